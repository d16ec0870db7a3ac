"""MLflow "models from code" entry: the logged pyfunc is this file, not a pickled object."""
from mlflow.models import set_model

from pipelines.tracking.pyfunc_model import MedfuseFusionModel

set_model(MedfuseFusionModel())
