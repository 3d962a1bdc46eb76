"""Generators and discriminators, one architecture per file.

- mlp.py: MLPGenerator, MLPDiscriminator (the vanilla GAN's networks)
- dcgan.py: DCGANGenerator, DCGANDiscriminator (16-128 px; transposed or resize-conv)
- features.py: ConvFeatures, MLPFeatures (discriminator bodies with noise and dropout)
- cgan.py: ConditionalGenerator, ConditionalDiscriminator (a label joins the inputs)
- acgan.py: ACGANDiscriminator (a source and a class head)
- sgan.py: SGANDiscriminator (K class logits, the fake class' fixed at 0)

The families (ganjax.families) choose and configure them; nothing here reads a config.
"""
