"""Entry point: python -m experiments.wgan_gp --config=experiments/configs/wgan_gp.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("wgan_gp")
