"""Entry point: python -m experiments.discogan --config=experiments/configs/discogan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("discogan")
