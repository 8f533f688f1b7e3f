"""Operations in a generator's latent space, as functions over a frozen generator and tensors:
inversion (``invert``), interpolation, sampling (with truncation), the restoration masks and the
fidelity measures (PSNR, SSIM) that score them. The pipelines wrap them into commands."""
