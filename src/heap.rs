//! Heap settings for the radiograph buffers.
//!
//! Each film passes through a few large, short-lived buffers (a 2010 x 1670 film: 6.7 MB
//! of stored pixels, 13.4 MB as f32, 8.6 MB per batch of windows). glibc serves blocks
//! that large with fresh `mmap`s and unmaps them when freed, so every film paid again for
//! the kernel's zeroed pages: about 5,000 page faults, which took the decode and tile
//! stages from 6 ms to 20 ms and 3 ms to 9 ms in the benchmark (benches/RESULTS.md).
//! Keeping blocks up to 32 MiB in the heap, and not trimming it below 256 MiB of free
//! space, lets the next film reuse the pages. Larger blocks (a 100-megapixel film) are
//! still mapped and returned, so what the node holds stays bounded.

/// Largest block served from the heap: glibc's own maximum for M_MMAP_THRESHOLD on 64-bit
/// targets.
pub const MMAP_THRESHOLD: usize = 32 << 20;

/// Free space at the top of the heap kept rather than returned to the system.
pub const TRIM_THRESHOLD: usize = 256 << 20;

/// Applies the settings above; `false` where they could not be applied (another C
/// library than glibc, or glibc refusing a value). Call once, at start, before threads
/// allocate.
pub fn keep_image_buffers() -> bool {
    imp::keep_image_buffers()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use super::{MMAP_THRESHOLD, TRIM_THRESHOLD};

    pub fn keep_image_buffers() -> bool {
        let (Ok(mmap), Ok(trim)) = (
            libc::c_int::try_from(MMAP_THRESHOLD),
            libc::c_int::try_from(TRIM_THRESHOLD),
        ) else {
            return false;
        };
        // SAFETY: mallopt only changes glibc's allocation thresholds; it takes plain
        // integers and touches no memory of ours. Both are documented parameters
        // (mallopt(3)) and the values are within their ranges.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, mmap) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn keep_image_buffers() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_takes_the_settings() {
        assert!(super::keep_image_buffers());
    }
}
