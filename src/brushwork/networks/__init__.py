"""Networks: the VGG loss networks and where their weights come from."""

from brushwork.networks.vgg import VGGFeatures, layer_names, load_vgg

__all__ = ["VGGFeatures", "layer_names", "load_vgg"]
