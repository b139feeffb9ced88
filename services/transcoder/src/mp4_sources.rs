//! Pure: where a version's static MP4 files come from. The version's master names the video
//! rungs (`RESOLUTION`, URI) and the audio renditions (`EXT-X-MEDIA`, the `DEFAULT=YES` one of
//! the stereo group first); a media playlist names its init segment (`EXT-X-MAP`) and its
//! segments. Concatenated in order, init then segments, they are one fragmented MP4 that
//! ffmpeg remuxes by stream copy.

/// A video rung of the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    /// Its directory name (`720p`).
    pub name: String,
    pub height: u32,
    /// Media key of its media playlist.
    pub playlist: String,
}

/// What a master offers: video rungs in master order, and the default audio's playlist key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MasterMedia {
    pub rungs: Vec<Rung>,
    pub audio: Option<String>,
}

/// One piece of a media playlist, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// An init segment (`EXT-X-MAP`): written before the segments that follow it.
    Init(String),
    Segment(String),
}

/// `uri` relative to the directory key `base`, with `.` and `..` resolved; `None` if it leaves
/// the media root, is absolute or has a scheme.
pub fn resolve(base: &str, uri: &str) -> Option<String> {
    if uri.contains("://") || uri.starts_with('/') || uri.contains('?') || uri.contains('#') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for p in uri.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The directory key of `key` (everything before its last `/`).
pub fn dir_of(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(d, _)| d)
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = line.split_once(':')?.1;
    while !rest.is_empty() {
        let (k, after) = rest.split_once('=')?;
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q[end + 1..].strip_prefix(',').unwrap_or(&q[end + 1..]))
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        if k.trim() == name {
            return Some(v);
        }
        rest = next;
    }
    None
}

/// The rungs and default audio of a master whose URIs are relative to `base` (the video's
/// root: a version's master is served from the stable URL).
pub fn parse_master(text: &str, base: &str) -> MasterMedia {
    let mut out = MasterMedia::default();
    let mut default_audio: Option<(bool, bool, String)> = None;
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("#EXT-X-MEDIA:") && attr(line, "TYPE") == Some("AUDIO") {
            let Some(uri) = attr(line, "URI").and_then(|u| resolve(base, u)) else { continue };
            let rank =
                (attr(line, "GROUP-ID") == Some("audio"), attr(line, "DEFAULT") == Some("YES"));
            let better = match &default_audio {
                None => true,
                Some((g, d, _)) => rank > (*g, *d),
            };
            if better {
                default_audio = Some((rank.0, rank.1, uri));
            }
        } else if line.starts_with("#EXT-X-STREAM-INF:") {
            let height = attr(line, "RESOLUTION")
                .and_then(|r| r.split_once('x'))
                .and_then(|(_, h)| h.parse::<u32>().ok());
            let Some(uri) = lines.by_ref().find(|l| !l.is_empty() && !l.starts_with('#')) else {
                break;
            };
            let (Some(height), Some(key)) = (height, resolve(base, uri)) else { continue };
            let name = dir_of(&key).rsplit('/').next().unwrap_or_default().to_owned();
            if !out.rungs.iter().any(|r| r.playlist == key) {
                out.rungs.push(Rung { name, height, playlist: key });
            }
        }
    }
    out.audio = default_audio.map(|(_, _, u)| u);
    out
}

/// The init segments and segments of a media playlist at key `playlist`, in order; `None` if
/// a URI cannot be resolved or there is no segment.
pub fn parse_media(text: &str, playlist: &str) -> Option<Vec<Piece>> {
    let base = dir_of(playlist);
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("#EXT-X-MAP:") {
            out.push(Piece::Init(resolve(base, attr(line, "URI")?)?));
        } else if !line.starts_with('#') {
            out.push(Piece::Segment(resolve(base, line)?));
        }
    }
    out.iter().any(|p| matches!(p, Piece::Segment(_))).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = r#"#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio-mc",NAME="5.1",DEFAULT=YES,URI="v/ab12/audio_mc/playlist.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="English",LANGUAGE="en",DEFAULT=NO,URI="v/ab12/audio_1/playlist.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Deutsch",LANGUAGE="de",DEFAULT=YES,AUTOSELECT=YES,URI="v/ab12/audio/playlist.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000,AUDIO="audio"
v/ab12/720p/playlist.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2",AUDIO="audio"
v/ab12/1080p/playlist.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080,CODECS="avc1.640028,ac-3",AUDIO="audio-mc"
v/ab12/1080p/playlist.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=300000,RESOLUTION=1280x720,URI="v/ab12/720p/iframes.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=140000,CODECS="mp4a.40.2",AUDIO="audio"
v/ab12/audio/playlist.m3u8
"#;

    #[test]
    fn a_master_gives_each_video_rung_once_and_the_default_stereo_audio() {
        let m = parse_master(MASTER, "hls/acme/vid_1");
        let rungs: Vec<_> = m.rungs.iter().map(|r| (r.name.as_str(), r.height)).collect();
        assert_eq!(rungs, [("720p", 720), ("1080p", 1080)]);
        assert_eq!(m.rungs[1].playlist, "hls/acme/vid_1/v/ab12/1080p/playlist.m3u8");
        assert_eq!(m.audio.as_deref(), Some("hls/acme/vid_1/v/ab12/audio/playlist.m3u8"));
    }

    #[test]
    fn a_media_playlist_gives_its_maps_and_segments_in_order() {
        let text = "#EXTM3U\n#EXT-X-MAP:URI=\"init_t1.mp4\"\n#EXTINF:6.0,\nseg_00000_t1.m4s\n\
                    #EXT-X-MAP:URI=\"init_t2.mp4\"\n#EXTINF:6.0,\nseg_00001_t2.m4s\n#EXT-X-ENDLIST\n";
        let got = parse_media(text, "hls/a/v/v/ab/720p/playlist.m3u8").unwrap();
        assert_eq!(
            got,
            [
                Piece::Init("hls/a/v/v/ab/720p/init_t1.mp4".into()),
                Piece::Segment("hls/a/v/v/ab/720p/seg_00000_t1.m4s".into()),
                Piece::Init("hls/a/v/v/ab/720p/init_t2.mp4".into()),
                Piece::Segment("hls/a/v/v/ab/720p/seg_00001_t2.m4s".into()),
            ]
        );
        assert_eq!(parse_media("#EXTM3U\n#EXT-X-ENDLIST\n", "a/p.m3u8"), None);
        assert_eq!(parse_media("http://evil/x.m4s\n", "a/p.m3u8"), None);
    }

    #[test]
    fn uris_never_leave_the_media_root() {
        assert_eq!(resolve("hls/a/v", "../w/x.m4s").as_deref(), Some("hls/a/w/x.m4s"));
        assert_eq!(resolve("hls", "../../x"), None);
        assert_eq!(resolve("hls/a", "/etc/passwd"), None);
        assert_eq!(resolve("hls/a", "file:///etc/passwd"), None);
    }
}
