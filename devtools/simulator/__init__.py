"""An in-process OneFile API v2.1 simulator (strict: it refuses what OneFile would refuse).

app = create_simulator_app(SimulatorConfig(rate_limit=5, rate_period=0.5))
state: SimulatorState = app.state.sim
realistic = create_simulator_app(SimulatorConfig.realistic(rate_limit=5))  # see config.py
"""

from .app import create_simulator_app
from .config import REALISTIC, SimulatorConfig
from .state import CallRecord, SimulatorState

__all__ = ["REALISTIC", "CallRecord", "SimulatorConfig", "SimulatorState", "create_simulator_app"]
