"""Entry point: python -m experiments.dcgan --config=experiments/configs/dcgan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("dcgan")
