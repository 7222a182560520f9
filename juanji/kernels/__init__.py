"""Raw array code with no autograd: im2col/col2im, pooling windows."""
