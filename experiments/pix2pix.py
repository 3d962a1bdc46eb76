"""Entry point: python -m experiments.pix2pix --config=experiments/configs/pix2pix.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("pix2pix")
