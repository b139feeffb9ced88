//! The Image API's query (pure): which file (`thumbnail.{jpg,png,webp}`,
//! `animated.{gif,webp}`), its parameters parsed and bounded, the bounds that need the video
//! (its duration) applied once it is known, and the canonical form that names a rendering in
//! the cache.
//!
//! Times are kept in whole milliseconds, so `time=1.5` and `time=1.500` are one rendering.
//! An unknown parameter is refused (a typo such as `widht` would otherwise silently answer the
//! default size).

use std::fmt;

use framelog_core::ApiError;

/// Largest width or height of a thumbnail.
pub const MAX_SIDE: u32 = 1920;
/// Largest width of an animation.
pub const MAX_ANIMATED_WIDTH: u32 = 640;
/// Longest animation, milliseconds.
pub const MAX_ANIMATED_MS: u64 = 10_000;
/// Highest animation frame rate.
pub const MAX_FPS: u32 = 30;
/// An animation's width when none is asked.
pub const DEFAULT_ANIMATED_WIDTH: u32 = 320;
/// An animation's frame rate when none is asked.
pub const DEFAULT_FPS: u32 = 10;
/// An animation's length when no `end` is asked, milliseconds.
pub const DEFAULT_ANIMATED_MS: u64 = 5_000;

/// An image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpg,
    Png,
    Webp,
    Gif,
}

impl Format {
    /// The file extension.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Jpg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
        }
    }

    /// The `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
        }
    }
}

/// How a picture fills a box given by both a width and a height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Fit inside the box, keeping the aspect ratio: one side may be shorter than asked.
    Preserve,
    /// Fill the box exactly, keeping the aspect ratio, cutting the excess off centred.
    Crop,
    /// Fit inside the box and fill the rest with black bars: exactly the box.
    Pad,
}

impl Fit {
    fn name(self) -> &'static str {
        match self {
            Fit::Preserve => "preserve",
            Fit::Crop => "crop",
            Fit::Pad => "pad",
        }
    }
}

/// `thumbnail.<ext>?time=&width=&height=&fit_mode=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub format: Format,
    /// Absent: the video's poster time.
    pub time_ms: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
}

/// `animated.<ext>?start=&end=&width=&fps=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Animated {
    pub format: Format,
    pub start_ms: u64,
    /// Absent: [`DEFAULT_ANIMATED_MS`] after `start`, or the end of the video.
    pub end_ms: Option<u64>,
    pub width: u32,
    pub fps: u32,
}

/// One Image API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRequest {
    Thumbnail(Thumbnail),
    Animated(Animated),
}

/// Why a request is refused before any rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// No such image file (404).
    NotFound,
    /// A format this file does not come in (400 `unsupported_format`).
    Format(String),
    /// A malformed or unknown parameter (400 `invalid_query`).
    Invalid(String),
    /// A value outside its bounds (400 `out_of_range`).
    Range(String),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::NotFound => f.write_str("no such image"),
            ParamError::Format(m) | ParamError::Invalid(m) | ParamError::Range(m) => f.write_str(m),
        }
    }
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> ApiError {
        match e {
            ParamError::NotFound => ApiError::not_found("image"),
            ParamError::Format(m) => ApiError::bad_request("unsupported_format", m),
            ParamError::Invalid(m) => ApiError::bad_request("invalid_query", m),
            ParamError::Range(m) => ApiError::bad_request("out_of_range", m),
        }
    }
}

fn seconds_ms(name: &str, v: &str) -> Result<u64, ParamError> {
    let secs: f64 = v
        .parse()
        .map_err(|_| ParamError::Invalid(format!("{name} must be a number of seconds")))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(ParamError::Range(format!("{name} must be a non-negative number of seconds")));
    }
    if secs > 1e9 {
        return Err(ParamError::Range(format!("{name} is past the end of the video")));
    }
    Ok((secs * 1000.0).round() as u64)
}

fn int(name: &str, v: &str, max: u32) -> Result<u32, ParamError> {
    let n: u64 =
        v.parse().map_err(|_| ParamError::Invalid(format!("{name} must be a whole number")))?;
    if n == 0 || n > u64::from(max) {
        return Err(ParamError::Range(format!("{name} must be between 1 and {max}")));
    }
    Ok(n as u32)
}

/// Parses the request for `file` with `query` (name, value pairs as sent).
pub fn parse(file: &str, query: &[(String, String)]) -> Result<ImageRequest, ParamError> {
    let (stem, ext) = file.rsplit_once('.').ok_or(ParamError::NotFound)?;
    let seen = |name: &str| query.iter().filter(|(k, _)| k == name).count();
    if let Some((k, _)) = query.iter().find(|(k, _)| seen(k) > 1) {
        return Err(ParamError::Invalid(format!("{k} is given more than once")));
    }
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let allow = |names: &[&str]| match query.iter().find(|(k, _)| !names.contains(&k.as_str())) {
        Some((k, _)) => Err(ParamError::Invalid(format!(
            "unknown parameter {k:?} (expected one of {})",
            names.join(", ")
        ))),
        None => Ok(()),
    };
    match stem {
        "thumbnail" => {
            let format = match ext {
                "jpg" | "jpeg" => Format::Jpg,
                "png" => Format::Png,
                "webp" => Format::Webp,
                other => {
                    return Err(ParamError::Format(format!(
                        "thumbnails are jpg, png or webp, not {other:?}"
                    )));
                }
            };
            allow(&["time", "width", "height", "fit_mode"])?;
            let fit = match get("fit_mode") {
                None | Some("preserve") => Fit::Preserve,
                Some("crop") => Fit::Crop,
                Some("pad") => Fit::Pad,
                Some(_) => {
                    return Err(ParamError::Invalid(
                        "fit_mode must be preserve, crop or pad".into(),
                    ));
                }
            };
            Ok(ImageRequest::Thumbnail(Thumbnail {
                format,
                time_ms: get("time").map(|v| seconds_ms("time", v)).transpose()?,
                width: get("width").map(|v| int("width", v, MAX_SIDE)).transpose()?,
                height: get("height").map(|v| int("height", v, MAX_SIDE)).transpose()?,
                fit,
            }))
        }
        "animated" => {
            let format = match ext {
                "gif" => Format::Gif,
                "webp" => Format::Webp,
                other => {
                    return Err(ParamError::Format(format!(
                        "animations are gif or webp, not {other:?}"
                    )));
                }
            };
            allow(&["start", "end", "width", "fps"])?;
            let start_ms = get("start").map(|v| seconds_ms("start", v)).transpose()?.unwrap_or(0);
            let end_ms = get("end").map(|v| seconds_ms("end", v)).transpose()?;
            if let Some(end) = end_ms {
                if end <= start_ms {
                    return Err(ParamError::Range("end must be after start".into()));
                }
                if end - start_ms > MAX_ANIMATED_MS {
                    return Err(ParamError::Range(format!(
                        "an animation lasts at most {} s",
                        MAX_ANIMATED_MS / 1000
                    )));
                }
            }
            Ok(ImageRequest::Animated(Animated {
                format,
                start_ms,
                end_ms,
                width: get("width")
                    .map(|v| int("width", v, MAX_ANIMATED_WIDTH))
                    .transpose()?
                    .unwrap_or(DEFAULT_ANIMATED_WIDTH),
                fps: get("fps").map(|v| int("fps", v, MAX_FPS)).transpose()?.unwrap_or(DEFAULT_FPS),
            }))
        }
        _ => Err(ParamError::NotFound),
    }
}

/// The thumbnail's time once the video is known: the asked time, else the poster time, else
/// a quarter in (where the transcoder takes `poster.jpg`); it must fall inside the video.
pub fn thumbnail_time(
    q: &Thumbnail,
    duration_ms: u64,
    poster_ms: Option<u64>,
) -> Result<u64, ParamError> {
    let t = q.time_ms.or(poster_ms).unwrap_or(duration_ms / 4);
    if t >= duration_ms {
        return Err(ParamError::Range(format!(
            "time must be below the video's duration ({:.3} s)",
            duration_ms as f64 / 1000.0
        )));
    }
    Ok(t)
}

/// The animation's `(start, end)` once the video's duration is known.
pub fn animated_span(q: &Animated, duration_ms: u64) -> Result<(u64, u64), ParamError> {
    if q.start_ms >= duration_ms {
        return Err(ParamError::Range(format!(
            "start must be below the video's duration ({:.3} s)",
            duration_ms as f64 / 1000.0
        )));
    }
    let end = q.end_ms.unwrap_or((q.start_ms + DEFAULT_ANIMATED_MS).min(duration_ms));
    if end > duration_ms {
        return Err(ParamError::Range(format!(
            "end must not be past the video's duration ({:.3} s)",
            duration_ms as f64 / 1000.0
        )));
    }
    Ok((q.start_ms, end))
}

impl ImageRequest {
    /// The file's format.
    pub fn format(&self) -> Format {
        match self {
            ImageRequest::Thumbnail(t) => t.format,
            ImageRequest::Animated(a) => a.format,
        }
    }

    /// Whether the answer depends on a setting that can change (a thumbnail at the poster
    /// time): such answers are not `immutable`.
    pub fn follows_poster(&self) -> bool {
        matches!(self, ImageRequest::Thumbnail(Thumbnail { time_ms: None, .. }))
    }

    /// The canonical form naming this rendering within one version of a video; `poster_ms`
    /// is the poster time in force when the request gives no time.
    pub fn canonical(&self, poster_ms: Option<u64>) -> String {
        let opt = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
        match self {
            ImageRequest::Thumbnail(t) => {
                let time = match t.time_ms {
                    Some(ms) => ms.to_string(),
                    None => {
                        format!("poster:{}", poster_ms.map(|p| p.to_string()).unwrap_or_default())
                    }
                };
                format!(
                    "thumbnail.{}?time={time}&width={}&height={}&fit_mode={}",
                    t.format.ext(),
                    opt(t.width),
                    opt(t.height),
                    t.fit.name()
                )
            }
            ImageRequest::Animated(a) => format!(
                "animated.{}?start={}&end={}&width={}&fps={}",
                a.format.ext(),
                a.start_ms,
                a.end_ms.map(|e| e.to_string()).unwrap_or_default(),
                a.width,
                a.fps
            ),
        }
    }
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
