"""Networks: the VGG loss network (architecture in ``vgg``, weights in ``weights``), the per-style
transformer network, and Magenta's arbitrary-style network. Network files are pure modules: no I/O."""
