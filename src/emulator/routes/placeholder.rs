//! `GET /placeholder/{W}x{H}/{name}` (or `/placeholder/{W}x{H}.png`): a placeholder image of
//! that size, for workspaces that need images without the network. The bytes are a real PNG
//! (grey, one bit per pixel) whose header states the size, whatever the name's extension; any
//! name may follow the size, so every job can have its own URL. As a storage host would, it
//! needs no key and honours `Range: bytes=A-B`. Sides are 1 to `MAX_SIDE` (4096): the image is
//! encoded row by row, so the largest costs one row of memory.
//!
//! The generated results of a job whose image is a placeholder are drawn at the same size (its
//! URL names it, as `result_files` reads it), so `export` can learn it from the image.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;

use super::super::http::{ApiError, ApiResult};
use super::super::result_files::{MAX_SIDE, size_in_segment};
use crate::api::codes;

/// The route pattern of placeholder images.
pub(super) const ROUTE: &str = "/placeholder/{*image}";

/// The size a placeholder path names: `/placeholder/WxH/…` or `/placeholder/WxH.ext` (read as
/// the result generator reads it, so that results are drawn at the image's size).
fn size_of(path: &str) -> Option<(u32, u32)> {
    let rest = path.strip_prefix("/placeholder/")?;
    size_in_segment(rest.split('/').next()?)
}

/// A grey PNG of `width` × `height`, one bit per pixel, written one row at a time.
fn placeholder_png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let row = vec![0u8; (width as usize).div_ceil(8)];
    let written = encoder.write_header().and_then(|mut writer| {
        let mut stream = writer.stream_writer()?;
        for _ in 0..height {
            std::io::Write::write_all(&mut stream, &row)?;
        }
        stream.finish()
    });
    match written {
        Ok(()) => bytes,
        Err(_) => Vec::new(),
    }
}

/// The byte range `bytes=A-B` (or `bytes=A-`) of a body of `length` bytes, if it asks for one
/// that exists.
fn range_of(headers: &HeaderMap, length: usize) -> Option<(usize, usize)> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    let (first, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    let first: usize = first.trim().parse().ok()?;
    let last = match last.trim() {
        "" => length.checked_sub(1)?,
        last => last.parse::<usize>().ok()?.min(length.checked_sub(1)?),
    };
    (first <= last).then_some((first, last))
}

/// `GET /placeholder/…`.
pub(super) async fn serve(uri: Uri, headers: HeaderMap) -> ApiResult {
    let Some((width, height)) = size_of(uri.path()) else {
        return Err(ApiError::new(
            codes::NOT_FOUND,
            format!("no placeholder here: /placeholder/WxH/NAME, each side 1 to {MAX_SIDE}"),
        )
        .with_status(StatusCode::NOT_FOUND));
    };
    let png = placeholder_png(width, height);
    let length = png.len();
    let mut response = match range_of(&headers, length) {
        Some((first, last)) => {
            let mut response = Response::new(Body::from(png[first..=last].to_vec()));
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {first}-{last}/{length}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
        None => Response::new(Body::from(png)),
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_is_a_png_of_the_size_its_path_names_and_huge_sizes_are_refused() {
        assert_eq!(size_of("/placeholder/640x480/cam-1.jpg"), Some((640, 480)));
        assert_eq!(size_of("/placeholder/64x48.png"), Some((64, 48)));
        for bad in [
            "/placeholder/0x10/a.png",
            "/placeholder/4097x10/a.png",
            "/placeholder/10x99999999999/a.png",
            "/placeholder/a/640x480.png",
            "/placeholder/640/a.png",
        ] {
            assert_eq!(size_of(bad), None, "{bad}");
        }
        for (width, height) in [(1, 1), (640, 480), (4096, 4096)] {
            let png = placeholder_png(width, height);
            let size = imagesize::blob_size(&png).unwrap();
            assert_eq!((size.width, size.height), (width as usize, height as usize));
            let decoded = png::Decoder::new(std::io::Cursor::new(&png))
                .read_info()
                .unwrap();
            assert_eq!(decoded.info().size(), (width, height));
        }
        assert!(
            placeholder_png(4096, 4096).len() < 64 * 1024,
            "a blank image compresses"
        );
    }

    #[test]
    fn a_range_is_honoured_within_the_body() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=0-99"));
        assert_eq!(range_of(&headers, 1000), Some((0, 99)));
        assert_eq!(range_of(&headers, 50), Some((0, 49)));
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=10-"));
        assert_eq!(range_of(&headers, 20), Some((10, 19)));
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=30-40"));
        assert_eq!(range_of(&headers, 20), None);
        assert_eq!(range_of(&HeaderMap::new(), 20), None);
    }
}
