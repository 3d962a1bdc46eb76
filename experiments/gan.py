"""Entry point: python -m experiments.gan --config=experiments/configs/gan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("gan")
