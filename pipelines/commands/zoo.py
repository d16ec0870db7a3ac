"""``medfuse zoo``: what the GAN zoo contains (losses, regularizers, systems, presets)."""
from __future__ import annotations

import json
import textwrap

NAME = "zoo"
HELP = "list the registered adversarial losses, regularizers, systems and paper presets"
DESCRIPTION = (
    "Prints the GAN zoo's registries.  --json prints {\"losses\": [...], \"regularizers\": [...], "
    "\"systems\": [...], \"presets\": [...], \"augmentations\": [...], \"schedules\": [...], \"monitors\": [...]} "
    "(gan_models.zoo()); without it, a table per kind: each system with the losses it accepts, each preset "
    "with its system and paper, and the generic training options every system accepts.")


def add_arguments(p) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output (one JSON object)")


def system_losses(system_name: str) -> list[str] | None:
    """The registered losses ``system_name`` accepts (None when the system declares no ``check_loss``)."""
    from gan_models.registry import SYSTEMS
    from gan_models.systems.adversarial import compatible_losses
    cls = SYSTEMS.get(system_name)
    return compatible_losses(cls) if hasattr(cls, "check_loss") else None


def _first_sentence(text: str, limit: int = 100) -> str:
    """The citation part of a preset description: up to the first "): " (or the first ": ")."""
    text = " ".join(str(text).split())
    for sep in ("): ", ": "):
        i = text.find(sep)
        if i > 0:
            text = text[:i + (1 if sep == "): " else 0)]
            break
    return textwrap.shorten(text, limit, placeholder="...")


def render_table(z: dict[str, list[str]]) -> str:
    from gan_models.presets import resolve_preset
    lines = [f"losses ({len(z['losses'])}): " + ", ".join(z["losses"]),
             f"regularizers ({len(z['regularizers'])}): " + ", ".join(z["regularizers"]),
             "training options of every system: augment (" + ", ".join(z["augmentations"]) + "), scheduler ("
             + ", ".join(z["schedules"]) + "), monitors (" + ", ".join(z["monitors"]) + ")", "",
             f"systems ({len(z['systems'])}):"]
    width = max((len(s) for s in z["systems"]), default=6)
    for s in z["systems"]:
        losses = system_losses(s)
        shown = "(declares no compatibility check)" if losses is None else (
            "all losses" if set(losses) == set(z["losses"]) else ", ".join(losses) or "none")
        lines.append(f"  {s:<{width}}  " + textwrap.fill(shown, 100, subsequent_indent=" " * (width + 4)))
    lines += ["", f"presets ({len(z['presets'])}):"]
    pw = max((len(p) for p in z["presets"]), default=6)
    for p in z["presets"]:
        data = resolve_preset(p)
        lines.append(f"  {p:<{pw}}  system {data['system']:<10} {_first_sentence(data.get('description', ''))}")
    return "\n".join(lines)


def run(args) -> int:
    import gan_models
    z = gan_models.zoo()
    if args.json:
        print(json.dumps(z))
    else:
        print(render_table(z))
    return 0
