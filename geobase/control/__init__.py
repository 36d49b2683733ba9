"""The control-point registry (控制点), survey-mark inspections and datasheets (点之记)."""
