"""Generators and discriminators, one GAN family per file."""
