//! Media files: images and other files published beside the articles and
//! served under `/media/…`.
//!
//! Like [`crate::article`], this is model only: a [`MediaPath`] is a safe
//! relative path by construction, and [`NewMedia::parse`] turns a path and
//! its bytes into a file herald can store (type, size, hash and, for
//! images, dimensions). Nothing here reads files, the database or the clock:
//! `content` reads the files, `store` keeps the bytes, `http` serves them.

use std::fmt;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use url::Url;

/// Largest media file herald stores (the bytes live in the database, so that
/// every instance sharing it can serve them).
pub const MAX_BYTES: u64 = 20 * 1024 * 1024;

/// The file types herald publishes, by extension, with their media type.
///
/// SVG is left out on purpose: served from the site's own origin, an SVG
/// can run script. Files with other extensions are not published.
const TYPES: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("pdf", "application/pdf"),
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("wav", "audio/wav"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
];

/// Refuses a file larger than [`MAX_BYTES`], saying so.
pub fn check_size(size: u64) -> Result<(), String> {
    if size > MAX_BYTES {
        return Err(format!(
            "{} MiB is more than the {} MiB herald stores per media file; make it smaller",
            size.div_ceil(1024 * 1024),
            MAX_BYTES / (1024 * 1024)
        ));
    }
    Ok(())
}

/// The media type a file name's extension stands for, `None` when herald
/// does not publish files of that kind.
pub fn media_type_for(name: &str) -> Option<&'static str> {
    let (_, extension) = name.rsplit_once('.')?;
    TYPES.iter().find(|(ext, _)| extension.eq_ignore_ascii_case(ext)).map(|(_, media_type)| *media_type)
}

/// The usual extension of a media type herald publishes (`jpg` for
/// `image/jpeg`), `None` for any other type. Parameters are ignored.
pub fn extension_for(media_type: &str) -> Option<&'static str> {
    let essence = media_type.split(';').next().unwrap_or_default().trim();
    TYPES.iter().find(|(_, t)| t.eq_ignore_ascii_case(essence)).map(|(ext, _)| *ext)
}

/// The extensions herald publishes as media, for messages.
pub fn extensions() -> String {
    TYPES.iter().map(|(ext, _)| *ext).collect::<Vec<_>>().join(", ")
}

/// The path of a media file relative to the content directory, as it
/// appears after `/media/` in URLs: `/`-separated segments, none empty,
/// `.` or `..`, none starting with a dot (hidden files are not published),
/// and no `\`, `?`, `#`, `%` or control character, so that the path and its
/// URL map one to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaPath(String);

impl MediaPath {
    /// Longest path accepted, in bytes.
    pub const MAX_LEN: usize = 512;

    /// Parses a path such as `img/carte.jpg`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let segment_ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with('.')
                && !s.chars().any(|c| c.is_control() || matches!(c, '\\' | '?' | '#' | '%'))
        };
        if raw.len() <= Self::MAX_LEN && raw.split('/').all(segment_ok) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not a media path: use a path relative to the content directory such as \
                 \"img/carte.jpg\" (no `..`, no hidden files, no `\\`, `?`, `#` or `%`)"
            ))
        }
    }

    /// The path, e.g. `img/carte.jpg`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The media type its extension stands for, `None` when herald does not
    /// publish files of that kind.
    pub fn media_type(&self) -> Option<&'static str> {
        media_type_for(&self.0)
    }

    /// The URL herald serves the file at: `{base}media/{path}?v={version}`.
    ///
    /// The version is the start of the content hash, so the URL changes
    /// whenever the bytes do: that is what lets `/media/…` be cached for a
    /// year as immutable while a file can still be replaced (readers,
    /// CDNs and fediverse servers that cached the old bytes fetch the new
    /// URL).
    pub fn url(&self, base: &Url, sha256: &str) -> Url {
        let mut url = base.join(&format!("media/{}", self.0)).unwrap_or_else(|_| base.clone());
        url.set_query(Some(&format!("v={}", version(sha256))));
        url
    }

    /// The media path named by an image URL written in front matter: a
    /// relative path (`img/carte.jpg`, relative to the content directory)
    /// or a `/media/…` path. `None` for anything else (an `http(s)` URL, a
    /// site path such as `/img/a.jpg`), which is a URL as written.
    pub fn referenced_by(raw: &str) -> Option<Result<Self, String>> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("/media/") {
            return Some(Self::parse(rest));
        }
        let has_scheme = raw.split_once(':').is_some_and(|(scheme, _)| {
            scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        if raw.starts_with('/') || has_scheme {
            return None;
        }
        Some(Self::parse(raw.strip_prefix("./").unwrap_or(raw)))
    }
}

impl fmt::Display for MediaPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The version a media URL carries: the first 12 hex digits (48 bits) of
/// the content's SHA-256.
pub fn version(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// What herald knows about a media file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaInfo {
    /// Media type: from the content for images, from the extension otherwise.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, in lower-case hex: the ETag and the URL version.
    pub sha256: String,
    /// Width in pixels (images only).
    pub width: Option<u32>,
    /// Height in pixels (images only).
    pub height: Option<u32>,
}

impl MediaInfo {
    /// Examines the bytes of the file at `path` (the message of an error
    /// does not repeat the path). An image (by extension)
    /// must be an image herald can measure (JPEG, PNG, GIF, WebP or AVIF):
    /// its type is then the one its content shows, whatever the extension
    /// says. Other files get the type of their extension.
    pub fn of(path: &MediaPath, bytes: &[u8]) -> Result<Self, String> {
        let Some(by_extension) = path.media_type() else {
            return Err(format!("herald publishes only these kinds of files: {}", extensions()));
        };
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        check_size(size)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let (content_type, width, height) = if by_extension.starts_with("image/") {
            let (content_type, width, height) = image(bytes).ok_or_else(|| {
                "not a JPEG, PNG, GIF, WebP or AVIF image that herald can read the size of".to_owned()
            })?;
            (content_type.to_owned(), Some(width), Some(height))
        } else {
            (by_extension.to_owned(), None, None)
        };
        Ok(Self { content_type, size, sha256, width, height })
    }

    /// Whether this is an image (and so has dimensions).
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

/// The media type and dimensions of an image, from its header.
fn image(bytes: &[u8]) -> Option<(&'static str, u32, u32)> {
    use imagesize::ImageType;
    let content_type = match imagesize::image_type(bytes).ok()? {
        ImageType::Jpeg => "image/jpeg",
        ImageType::Png => "image/png",
        ImageType::Gif => "image/gif",
        ImageType::Webp => "image/webp",
        ImageType::Heif(imagesize::Compression::Av1) => "image/avif",
        _ => return None,
    };
    let size = imagesize::blob_size(bytes).ok()?;
    let width = u32::try_from(size.width).ok().filter(|w| *w > 0)?;
    let height = u32::try_from(size.height).ok().filter(|h| *h > 0)?;
    Some((content_type, width, height))
}

/// A media file ready to store: holding one proves its type, size, hash and
/// dimensions were computed from its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMedia {
    /// Where it is served, under `/media/`.
    pub path: MediaPath,
    /// What its bytes are.
    pub info: MediaInfo,
    /// The content.
    pub bytes: Bytes,
}

impl NewMedia {
    /// Examines `bytes` (see [`MediaInfo::of`]); the message says what is
    /// wrong with the file (the caller names the file).
    pub fn parse(path: MediaPath, bytes: impl Into<Bytes>) -> Result<Self, String> {
        let bytes = bytes.into();
        let info = MediaInfo::of(&path, &bytes)?;
        Ok(Self { path, info, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_map_back_to_their_usual_extension() {
        assert_eq!(extension_for("image/jpeg"), Some("jpg"));
        assert_eq!(extension_for("Image/PNG; charset=binary"), Some("png"));
        assert_eq!(extension_for("audio/ogg"), Some("ogg"));
        assert_eq!(extension_for("image/svg+xml"), None);
        for (ext, media_type) in TYPES {
            assert_eq!(
                media_type_for(&format!("a.{}", extension_for(media_type).unwrap())),
                Some(*media_type),
                "{ext}"
            );
        }
    }

    /// A 3×2 PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn media_paths_are_relative_and_plain() {
        assert_eq!(MediaPath::parse("img/carte du mali.jpg").unwrap().as_str(), "img/carte du mali.jpg");
        for bad in ["", "/img/a.jpg", "img//a.jpg", "../a.jpg", "img/../a.jpg", ".hidden/a.jpg", "a.jpg?x", "a%20.jpg"]
        {
            assert!(MediaPath::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn image_urls_name_media_when_relative_or_under_media() {
        let path = |raw| MediaPath::referenced_by(raw).map(|r| r.unwrap().0);
        assert_eq!(path("img/carte.jpg").as_deref(), Some("img/carte.jpg"));
        assert_eq!(path("./img/carte.jpg").as_deref(), Some("img/carte.jpg"));
        assert_eq!(path("/media/img/carte.jpg").as_deref(), Some("img/carte.jpg"));
        assert_eq!(path("/img/carte.jpg"), None);
        assert_eq!(path("https://cdn.example/carte.jpg"), None);
        assert_eq!(path("//cdn.example/carte.jpg"), None);
        assert!(MediaPath::referenced_by("../carte.jpg").unwrap().is_err());
    }

    #[test]
    fn urls_carry_the_content_version() {
        let base = Url::parse("https://news.example.org/").unwrap();
        let path = MediaPath::parse("img/carte du mali.jpg").unwrap();
        let url = path.url(&base, "0123456789abcdef0123");
        assert_eq!(url.as_str(), "https://news.example.org/media/img/carte%20du%20mali.jpg?v=0123456789ab");
    }

    /// The header of a 64×40 baseline JPEG, up to its frame header.
    const JPEG: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
        0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x28, 0x00, 0x40, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01,
        0x03, 0x11, 0x01, 0xFF, 0xD9,
    ];

    #[test]
    fn images_are_measured_and_typed_by_content() {
        let gif = b"GIF89a\x40\x00\x28\x00\x80\x00\x00";
        let webp = b"RIFF\x11\x00\x00\x00WEBPVP8L\x05\x00\x00\x00\x2f\x3f\xc0\x09\x00";
        // ftyp (avif), then meta > iprp > ipco > ispe (64×40).
        let avif = b"\x00\x00\x00\x10ftypavif\x00\x00\x00\x00\
                     \x00\x00\x00\x30meta\x00\x00\x00\x00\x00\x00\x00\x24iprp\x00\x00\x00\x1cipco\
                     \x00\x00\x00\x14ispe\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x28";
        let images: [(&str, &[u8], &str); 4] = [
            ("a.jpeg", JPEG, "image/jpeg"),
            ("a.gif", gif, "image/gif"),
            ("a.webp", webp, "image/webp"),
            ("a.avif", avif, "image/avif"),
        ];
        for (name, bytes, media_type) in images {
            let info = MediaInfo::of(&MediaPath::parse(name).unwrap(), bytes).unwrap();
            assert_eq!(
                (info.content_type.as_str(), info.width, info.height),
                (media_type, Some(64), Some(40)),
                "{name}"
            );
        }
        let info = MediaInfo::of(&MediaPath::parse("a.jpg").unwrap(), PNG).unwrap();
        assert_eq!((info.content_type.as_str(), info.width, info.height), ("image/png", Some(3), Some(2)));
        assert_eq!(info.size, PNG.len() as u64);
        assert_eq!(info.sha256.len(), 64);
        let pdf = MediaInfo::of(&MediaPath::parse("doc/a.PDF").unwrap(), b"%PDF-1.4").unwrap();
        assert_eq!((pdf.content_type.as_str(), pdf.width), ("application/pdf", None));
        assert!(MediaInfo::of(&MediaPath::parse("a.png").unwrap(), b"not an image at all").is_err());
        assert!(MediaInfo::of(&MediaPath::parse("a.svg").unwrap(), b"<svg/>").is_err());
    }
}
