//! Picture geometry (pure): the size a frame is scaled to and the crop or pad that makes the
//! asked box, and the ffmpeg filters that do it.

use super::params::{Fit, MAX_SIDE};

/// What to do with a `src` picture: scale to `scaled`, then crop or pad to `out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub scaled: (u32, u32),
    pub out: (u32, u32),
    pub fit: Fit,
}

fn round(v: f64) -> u32 {
    (v.round() as u32).max(1)
}

/// The geometry of `src` for a box of `width` x `height` (either may be absent: the other
/// side follows the aspect ratio; both absent: the source size, at most [`MAX_SIDE`]).
pub fn geometry(src: (u32, u32), width: Option<u32>, height: Option<u32>, fit: Fit) -> Geometry {
    let (sw, sh) = (f64::from(src.0.max(1)), f64::from(src.1.max(1)));
    let keep = |scaled| Geometry { scaled, out: scaled, fit: Fit::Preserve };
    match (width, height) {
        (None, None) => {
            let f = (f64::from(MAX_SIDE) / sw.max(sh)).min(1.0);
            keep((round(sw * f), round(sh * f)))
        }
        (Some(w), None) => keep((w, round(f64::from(w) * sh / sw))),
        (None, Some(h)) => keep((round(f64::from(h) * sw / sh), h)),
        (Some(w), Some(h)) => {
            let (fw, fh) = (f64::from(w) / sw, f64::from(h) / sh);
            match fit {
                Fit::Crop => {
                    let f = fw.max(fh);
                    let scaled = (round(sw * f).max(w), round(sh * f).max(h));
                    Geometry { scaled, out: (w, h), fit }
                }
                Fit::Preserve | Fit::Pad => {
                    let f = fw.min(fh);
                    let scaled = (round(sw * f).min(w), round(sh * f).min(h));
                    if fit == Fit::Pad {
                        Geometry { scaled, out: (w, h), fit }
                    } else {
                        keep(scaled)
                    }
                }
            }
        }
    }
}

impl Geometry {
    /// The ffmpeg filters: `scale` (exact size, square pixels), then `crop` or `pad` centred.
    pub fn filters(&self) -> String {
        let (sw, sh) = self.scaled;
        let (w, h) = self.out;
        let mut f = format!("scale={sw}:{sh}:flags=lanczos,setsar=1");
        match self.fit {
            Fit::Crop if (sw, sh) != (w, h) => {
                f.push_str(&format!(",crop={w}:{h}:{}:{}", (sw - w) / 2, (sh - h) / 2));
            }
            Fit::Pad if (sw, sh) != (w, h) => {
                f.push_str(&format!(",pad={w}:{h}:{}:{}:black", (w - sw) / 2, (h - sh) / 2));
            }
            _ => {}
        }
        f
    }

    /// The size a rendition must have (at least) to give this picture without upscaling.
    pub fn needs(&self) -> (u32, u32) {
        self.scaled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_side_keeps_the_aspect_ratio() {
        let g = geometry((1280, 720), Some(320), None, Fit::Crop);
        assert_eq!((g.scaled, g.out), ((320, 180), (320, 180)));
        let g = geometry((360, 640), None, Some(320), Fit::Pad);
        assert_eq!(g.out, (180, 320));
        assert_eq!(g.filters(), "scale=180:320:flags=lanczos,setsar=1");
    }

    #[test]
    fn no_size_is_the_source_size_at_most_1920() {
        assert_eq!(geometry((640, 360), None, None, Fit::Pad).out, (640, 360));
        assert_eq!(geometry((3840, 2160), None, None, Fit::Preserve).out, (1920, 1080));
        assert_eq!(geometry((2160, 3840), None, None, Fit::Preserve).out, (1080, 1920));
    }

    #[test]
    fn preserve_fits_inside_the_box() {
        let g = geometry((1280, 720), Some(400), Some(400), Fit::Preserve);
        assert_eq!(g.out, (400, 225));
        assert_eq!(g.filters(), "scale=400:225:flags=lanczos,setsar=1");
    }

    #[test]
    fn crop_fills_the_box_and_cuts_the_excess_centred() {
        let g = geometry((1280, 720), Some(400), Some(400), Fit::Crop);
        assert_eq!((g.scaled, g.out), ((711, 400), (400, 400)));
        assert_eq!(g.filters(), "scale=711:400:flags=lanczos,setsar=1,crop=400:400:155:0");
    }

    #[test]
    fn pad_fits_and_adds_bars_to_exactly_the_box() {
        let g = geometry((1280, 720), Some(400), Some(400), Fit::Pad);
        assert_eq!((g.scaled, g.out), ((400, 225), (400, 400)));
        assert_eq!(g.filters(), "scale=400:225:flags=lanczos,setsar=1,pad=400:400:0:87:black");
        // A box of the same aspect needs no bars.
        let g = geometry((1280, 720), Some(640), Some(360), Fit::Pad);
        assert_eq!(g.filters(), "scale=640:360:flags=lanczos,setsar=1");
    }
}
