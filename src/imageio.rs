//! Reading and writing arrays: images (PNG, TIFF, JPEG) and `.npy`, with atomic writes.
