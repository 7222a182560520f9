"""Raw array code with no autograd: im2col/col2im, layouts, pooling windows, BLAS calls, and
the convolution's routes with the planner that chooses among them (``juanji.kernels.conv``)."""
