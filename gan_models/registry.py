"""One small registry class; every pluggable part of the zoo is looked up by name through one of these."""
from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """``@LOSSES.register("wgan_gp")`` on a class or function; ``LOSSES.get("wgan_gp")`` to look it up.

    Unknown names raise ``KeyError`` listing the known ones; registering a name twice raises too.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise KeyError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj
        return deco

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {sorted(self._items)}") from None

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


class SystemRegistry(Registry):
    """``SYSTEMS``: ``build`` also takes the generic training options (``scheduler``, ``augment``, ``monitors``,
    see ``gan_models.training.options``), which no system constructor sees: they are passed to the built
    system's ``configure_training``, so every topology (and the fusion systems) accepts them alike."""

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        from gan_models.training.options import OPTION_KEYS
        options = {k: kwargs.pop(k) for k in OPTION_KEYS if k in kwargs}
        system = super().build(name, *args, **kwargs)
        if any(v is not None for v in options.values()):
            system.configure_training(**options)
        return system


LOSSES: Registry = Registry("adversarial loss")
REGULARIZERS: Registry = Registry("regularizer")
BLOCKS: Registry = Registry("block")
GENERATORS: Registry = Registry("generator")
DISCRIMINATORS: Registry = Registry("discriminator")
SYSTEMS: SystemRegistry = SystemRegistry("system")
CONTENT_LOSSES: Registry = Registry("content loss")
AUGMENTATIONS: Registry = Registry("critic augmentation")
