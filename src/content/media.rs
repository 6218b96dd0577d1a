//! The media files of a content directory: every file beside the articles
//! whose extension herald publishes (images, PDF, audio, video; see
//! [`crate::media`]), served as `/media/{path relative to the directory}`.
//!
//! Loading a directory reads each file once, to hash and measure it; the
//! bytes are not kept, since a publish writes only the files whose hash
//! changed and reads those again ([`read`]). Like the rest of `content`,
//! this never touches the database.

use std::path::{Path, PathBuf};

use crate::error::ContentError;
use crate::media::{self, MediaInfo, MediaPath, NewMedia};

/// A media file found in the content directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    /// Its path under `/media/`.
    pub path: MediaPath,
    /// The file on disk.
    pub file: PathBuf,
    /// What its bytes were when the directory was loaded.
    pub info: MediaInfo,
}

/// Examines `files` (found under `dir`): the ones herald publishes become
/// media files, each problem an error naming its file; files of other kinds
/// are left alone.
pub fn load(dir: &Path, files: &[PathBuf], errors: &mut Vec<ContentError>) -> Vec<MediaFile> {
    let mut loaded = Vec::new();
    for file in files {
        let Some(path) = media_path(dir, file) else { continue };
        match path.and_then(|path| examine(file, path)) {
            Ok(media) => loaded.push(media),
            Err(message) => errors.push(ContentError::Media { path: file.clone(), message }),
        }
    }
    loaded
}

/// The media path of `file`; `None` when herald does not publish files of
/// its kind, an error when it cannot be served under its name.
fn media_path(dir: &Path, file: &Path) -> Option<Result<MediaPath, String>> {
    let relative = file.strip_prefix(dir).ok()?;
    let segments: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
    let Some(segments) = segments else {
        return Some(Err("the file name is not UTF-8; rename it to be served as /media/…".to_owned()));
    };
    let raw = segments.join("/");
    media::media_type_for(&raw)?;
    Some(MediaPath::parse(&raw).map_err(|e| format!("cannot be served under this name: {e}")))
}

fn examine(file: &Path, path: MediaPath) -> Result<MediaFile, String> {
    let bytes = read_bounded(file)?;
    let info = MediaInfo::of(&path, &bytes)?;
    Ok(MediaFile { path, file: file.to_owned(), info })
}

/// Reads a file, refusing one larger than herald stores before reading it.
fn read_bounded(file: &Path) -> Result<Vec<u8>, String> {
    media::check_size(std::fs::metadata(file).map_err(|e| format!("cannot read: {e}"))?.len())?;
    std::fs::read(file).map_err(|e| format!("cannot read: {e}"))
}

/// Reads a media file again to store it. A file whose bytes changed since
/// the directory was loaded is an error: the articles were checked against
/// the old bytes, and the change triggers the next publish anyway.
pub fn read(media: &MediaFile) -> Result<NewMedia, ContentError> {
    let error = |message: String| ContentError::Media { path: media.file.clone(), message };
    let bytes = read_bounded(&media.file).map_err(error)?;
    let new = NewMedia::parse(media.path.clone(), bytes).map_err(error)?;
    if new.info != media.info {
        return Err(error("changed while being published; publish again".to_owned()));
    }
    Ok(new)
}

/// Why an image's media path names nothing publishable, for `image.url`.
pub fn missing(dir: &Path, path: &MediaPath) -> String {
    let file = dir.join(path.as_str());
    if path.media_type().is_none() {
        format!("{:?} is not a kind of file herald publishes ({})", path.as_str(), media::extensions())
    } else if !file.is_file() {
        format!(
            "{:?} is not in the content directory (no file {}); add the file, or give an http(s) URL",
            path.as_str(),
            file.display()
        )
    } else {
        format!("{} cannot be published: see the error reported for it", file.display())
    }
}
