//! Segmentation masks to COCO run-length encodings, one per class.
//!
//! A mask is a PNG whose pixels' `#rrggbb` map through the legend to a label, or to an instance
//! `"<class> # <n>"` of a class; a pixel whose four channels are all 0 is unlabelled (§7.2).
//! Each class's pixels (all its instances together) become one RLE, column-major as
//! pycocotools reads it, its counts written in pycocotools' compressed string form. Pixels of a
//! colour the legend does not name are counted, not guessed. The PNG is decoded within
//! [`MAX_MASK_PIXELS`].

use std::collections::HashMap;

use crate::api::result_file::{Legend, legend_class, legend_colour};

/// The most pixels a mask may have (a 16384 × 16384 image).
pub const MAX_MASK_PIXELS: u64 = 1 << 28;

/// One class of a mask.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassMask {
    pub class: String,
    /// Run lengths, column-major, starting with a run of pixels outside the class.
    pub counts: Vec<u64>,
    /// Pixels of the class: the exact area.
    pub area: u64,
    /// Left, top, width, height of the class's pixels.
    pub bounds: [u64; 4],
}

/// A decoded mask: its size and classes (in legend order).
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub width: u32,
    pub height: u32,
    pub classes: Vec<ClassMask>,
    /// Pixels of a colour the legend does not name.
    pub unknown_pixels: u64,
}

/// Reads the size of a PNG from its header, without decoding it.
pub fn png_size(bytes: &[u8]) -> Result<(u32, u32), String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder
        .read_info()
        .map_err(|error| format!("not a PNG: {error}"))?;
    let info = reader.info();
    Ok((info.width, info.height))
}

/// Decodes `bytes` and splits it by `legend` into classes.
pub fn class_masks(bytes: &[u8], legend: &Legend) -> Result<Mask, String> {
    let mut decoder = png::Decoder::new_with_limits(
        std::io::Cursor::new(bytes),
        png::Limits {
            bytes: usize::try_from(MAX_MASK_PIXELS * 8).unwrap_or(usize::MAX),
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|error| format!("not a PNG: {error}"))?;
    let (width, height) = (reader.info().width, reader.info().height);
    if u64::from(width) * u64::from(height) > MAX_MASK_PIXELS {
        return Err(format!(
            "a mask of {width} × {height} pixels is larger than {MAX_MASK_PIXELS} pixels"
        ));
    }
    let mut buffer = vec![
        0;
        reader
            .output_buffer_size()
            .ok_or("a mask too large to decode")?
    ];
    let frame = reader
        .next_frame(&mut buffer)
        .map_err(|error| format!("a PNG that cannot be decoded: {error}"))?;
    let channels = match frame.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Grayscale => 1,
        png::ColorType::Indexed => return Err("an indexed PNG after expansion".to_owned()),
    };
    let line = frame.line_size;
    let pixel = |x: u32, y: u32| -> Option<[u8; 3]> {
        let at = y as usize * line + x as usize * channels;
        let raw = &buffer[at..at + channels];
        let rgba = match channels {
            4 => [raw[0], raw[1], raw[2], raw[3]],
            3 => [raw[0], raw[1], raw[2], 255],
            2 => [raw[0], raw[0], raw[0], raw[1]],
            _ => [raw[0], raw[0], raw[0], 255],
        };
        (rgba != [0, 0, 0, 0]).then_some([rgba[0], rgba[1], rgba[2]])
    };

    // Classes in legend order; colours to class index.
    let mut classes: Vec<String> = Vec::new();
    let mut colour_class: HashMap<[u8; 3], usize> = HashMap::new();
    for (key, label) in legend.iter() {
        let Some(colour) = legend_colour(key) else {
            continue;
        };
        let class = legend_class(label);
        let index = match classes.iter().position(|known| known == class) {
            Some(index) => index,
            None => {
                classes.push(class.to_owned());
                classes.len() - 1
            }
        };
        colour_class.entry(colour).or_insert(index);
    }

    struct Runs {
        counts: Vec<u64>,
        /// Whether the run under way is of the class.
        inside: bool,
        run_start: u64,
        area: u64,
        bounds: Option<[u32; 4]>,
    }
    let mut runs: Vec<Runs> = classes
        .iter()
        .map(|_| Runs {
            counts: Vec::new(),
            inside: false,
            run_start: 0,
            area: 0,
            bounds: None,
        })
        .collect();
    let mut unknown_pixels = 0;
    let mut previous: Option<usize> = None;
    let mut position: u64 = 0;
    let toggle = |runs: &mut Runs, position: u64| {
        runs.counts.push(position - runs.run_start);
        runs.run_start = position;
        runs.inside = !runs.inside;
    };
    for x in 0..width {
        for y in 0..height {
            let class = match pixel(x, y) {
                None => None,
                Some(colour) => {
                    let class = colour_class.get(&colour).copied();
                    if class.is_none() {
                        unknown_pixels += 1;
                    }
                    class
                }
            };
            if class != previous {
                if let Some(left) = previous {
                    toggle(&mut runs[left], position);
                }
                if let Some(entered) = class {
                    toggle(&mut runs[entered], position);
                }
                previous = class;
            }
            if let Some(class) = class {
                let runs = &mut runs[class];
                runs.area += 1;
                runs.bounds = Some(match runs.bounds {
                    None => [x, y, x, y],
                    Some([left, top, right, bottom]) => {
                        [left.min(x), top.min(y), right.max(x), bottom.max(y)]
                    }
                });
            }
            position += 1;
        }
    }
    let total = position;
    let classes = classes
        .into_iter()
        .zip(runs)
        .filter(|(_, runs)| runs.area > 0)
        .map(|(class, mut runs)| {
            runs.counts.push(total - runs.run_start);
            let [left, top, right, bottom] = runs.bounds.unwrap_or_default();
            ClassMask {
                class,
                counts: runs.counts,
                area: runs.area,
                bounds: [
                    u64::from(left),
                    u64::from(top),
                    u64::from(right - left) + 1,
                    u64::from(bottom - top) + 1,
                ],
            }
        })
        .collect();
    Ok(Mask {
        width,
        height,
        classes,
        unknown_pixels,
    })
}

/// RLE counts in pycocotools' compressed string form (`rleToString` in its `maskApi.c`): each
/// count (after the second, as the difference from the count two before) in 5-bit groups,
/// least significant first, with a continuation bit, offset by 48 into printable ASCII.
pub fn rle_string(counts: &[u64]) -> String {
    let mut text = String::new();
    for (index, count) in counts.iter().enumerate() {
        let mut value = *count as i64;
        if index > 2 {
            value -= counts[index - 2] as i64;
        }
        loop {
            let mut group = (value & 0x1f) as u8;
            value >>= 5;
            let more = if group & 0x10 != 0 {
                value != -1
            } else {
                value != 0
            };
            if more {
                group |= 0x20;
            }
            text.push(char::from(group + 48));
            if !more {
                break;
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, pixels: &[[u8; 4]]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(pixels.as_flattened()).unwrap();
        writer.finish().unwrap();
        bytes
    }

    #[test]
    fn classes_are_run_length_encoded_column_major_with_instances_merged() {
        const CAR1: [u8; 4] = [0x58, 0x6e, 0xe7, 255];
        const CAR2: [u8; 4] = [0x4c, 0x4f, 0x13, 255];
        const ROAD: [u8; 4] = [0xc4, 0xe5, 0x38, 255];
        const NONE: [u8; 4] = [0, 0, 0, 0];
        const ODD: [u8; 4] = [1, 2, 3, 255];
        // 3 wide, 2 high, row-major:
        //   car1 road car2
        //   none car1 odd
        let bytes = png(3, 2, &[CAR1, ROAD, CAR2, NONE, CAR1, ODD]);
        let legend = [
            ("#586ee7", "car # 1"),
            ("#4c4f13", "car # 2"),
            ("#C4E538", "road"),
        ]
        .into_iter()
        .map(|(key, label)| (key.to_owned(), label.to_owned()))
        .collect();
        let mask = class_masks(&bytes, &legend).unwrap();
        assert_eq!((mask.width, mask.height), (3, 2));
        assert_eq!(mask.unknown_pixels, 1);
        // Column-major order: car1, none, road, car1, car2, odd.
        let car = &mask.classes[0];
        assert_eq!(car.class, "car");
        assert_eq!(car.counts, [0, 1, 2, 2, 1]);
        assert_eq!(car.area, 3);
        assert_eq!(car.bounds, [0, 0, 3, 2]);
        let road = &mask.classes[1];
        assert_eq!(road.counts, [2, 1, 3]);
        assert_eq!(road.bounds, [1, 0, 1, 1]);
    }

    #[test]
    fn counts_compress_as_pycocotools_does() {
        // Worked by hand from `rleToString`; the Python check decodes whole masks with
        // pycocotools.
        assert_eq!(rle_string(&[0, 1, 2, 2, 1]), "0121O");
        assert_eq!(rle_string(&[6]), "6");
        assert_eq!(rle_string(&[100, 50]), "T3b1");
        assert_eq!(rle_string(&[1, 2, 3, 1]), "123O");
    }

    #[test]
    fn a_mask_that_is_not_a_png_is_refused() {
        assert!(class_masks(b"not a png", &Legend::default()).is_err());
        assert!(png_size(b"\x89PNG\r\n\x1a\n").is_err());
    }
}
