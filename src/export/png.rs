//! PNG through resvg. DejaVu Sans and DejaVu Sans Mono are compiled into
//! the binary and draw every character they have, so a picture in Latin
//! (or Greek, or most Cyrillic) text is the same on every machine, fonts
//! installed or not. A character DejaVu lacks (Chinese, Japanese, Korean,
//! Arabic, ...) is drawn from the font file given with `--font`, else from
//! the first of the system's fonts that has it. The system's fonts are
//! looked for once, the first time such a character turns up, and never
//! decide how a character DejaVu has is drawn.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use resvg::tiny_skia::{Pixmap, Transform};
use resvg::usvg::{self, FontResolver, fontdb};

const FONTS: &[&[u8]] = &[
    include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
    include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf"),
    include_bytes!("../../assets/fonts/DejaVuSansMono.ttf"),
    include_bytes!("../../assets/fonts/DejaVuSansMono-Bold.ttf"),
];

/// Why a PNG could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    #[error("the SVG does not parse: {0}")]
    Svg(String),
    #[error(
        "the picture would be {0}×{1} pixels, more than a PNG may have (64 M): draw part of it with --from/--to, a smaller --scale, or use SVG"
    )]
    TooLarge(u32, u32),
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

/// Why a `--font` file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error("{0}: cannot read the font: {1}")]
    Read(PathBuf, String),
    #[error("{0}: not a font (a TrueType .ttf, OpenType .otf or collection .ttc file)")]
    NotAFont(PathBuf),
}

/// Larger pictures are refused rather than exhausting memory.
/// 64 M pixels (256 MB of RGBA, an 8000×8000 picture): larger ones are
/// refused before anything is drawn.
pub const MAX_PIXELS: u64 = 64_000_000;

/// The picture a page of `width` × `height` SVG units gives at `scale`, in
/// pixels, or why it is refused: asked before the SVG is even written.
pub fn check_size(width: f64, height: f64, scale: f32) -> Result<(u32, u32), PngError> {
    let px = |v: f64| {
        (v * f64::from(scale))
            .ceil()
            .clamp(0.0, f64::from(u32::MAX)) as u32
    };
    let (w, h) = (px(width), px(height));
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(PngError::TooLarge(w, h));
    }
    Ok((w, h))
}

/// The fonts a PNG is drawn with: the built-in DejaVu faces, an optional
/// font of the user's, and (unless made with [`Fonts::built_in_only`]) the
/// system's fonts for characters neither has. Cheap to clone.
#[derive(Clone)]
pub struct Fonts(Arc<Inner>);

struct Inner {
    /// DejaVu, then the user's font: what every picture starts from.
    base: Arc<fontdb::Database>,
    /// The user's font's faces in `base`.
    user: Vec<fontdb::ID>,
    /// `base` with the system's fonts added after it (so every face of
    /// `base` keeps its ID), made when a character first needs it.
    system: Option<OnceLock<Arc<fontdb::Database>>>,
    /// Where the user's font came from, for `Debug`.
    file: Option<PathBuf>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts")
            .field("file", &self.0.file)
            .field("system", &self.0.system.is_some())
            .finish()
    }
}

impl Default for Fonts {
    /// DejaVu with the system's fonts as fallback, shared by every caller
    /// so the system's fonts are looked for once per process.
    fn default() -> Self {
        static SHARED: OnceLock<Fonts> = OnceLock::new();
        SHARED
            .get_or_init(|| Fonts::new(built_in(), Vec::new(), true, None))
            .clone()
    }
}

/// The embedded DejaVu faces, with the generic families mapped to them.
fn built_in() -> fontdb::Database {
    let mut db = fontdb::Database::new();
    for f in FONTS {
        db.load_font_source(fontdb::Source::Binary(Arc::new(*f)));
    }
    db.set_sans_serif_family("DejaVu Sans");
    db.set_serif_family("DejaVu Sans");
    db.set_monospace_family("DejaVu Sans Mono");
    db
}

impl Fonts {
    fn new(
        base: fontdb::Database,
        user: Vec<fontdb::ID>,
        system: bool,
        file: Option<PathBuf>,
    ) -> Fonts {
        Fonts(Arc::new(Inner {
            base: Arc::new(base),
            user,
            system: system.then(OnceLock::new),
            file,
        }))
    }

    /// DejaVu alone, no fallback: a character it lacks is drawn as its
    /// empty box, on every machine alike.
    pub fn built_in_only() -> Fonts {
        Fonts::new(built_in(), Vec::new(), false, None)
    }

    /// DejaVu, then the font in `path` (every face of a collection), then
    /// the system's fonts.
    pub fn with_file(path: &Path) -> Result<Fonts, FontError> {
        let data = std::fs::read(path)
            .map_err(|e| FontError::Read(path.to_path_buf(), e.to_string().to_lowercase()))?;
        let mut db = built_in();
        let user: Vec<fontdb::ID> = db
            .load_font_source(fontdb::Source::Binary(Arc::new(data)))
            .to_vec();
        if user.is_empty() {
            return Err(FontError::NotAFont(path.to_path_buf()));
        }
        Ok(Fonts::new(db, user, true, Some(path.to_path_buf())))
    }

    /// usvg's options: every family resolves to DejaVu; a character it
    /// lacks goes to the user's font, then to the system's.
    pub fn options(&self) -> usvg::Options<'static> {
        let select = self.clone();
        let fallback = self.clone();
        usvg::Options {
            fontdb: self.0.base.clone(),
            font_family: "DejaVu Sans".to_string(),
            font_resolver: FontResolver {
                // Against `base` alone, even once the system's fonts are in
                // the tree's database: a system copy of DejaVu never takes
                // the built-in one's place.
                select_font: Box::new(move |font, _| {
                    let mut base = select.0.base.clone();
                    (FontResolver::default_font_selector())(font, &mut base)
                }),
                select_fallback: Box::new(move |c, used, db| fallback.fallback(c, used, db)),
            },
            ..usvg::Options::default()
        }
    }

    /// The face to draw `c` with when none of `used` has it: DejaVu first
    /// (as usvg itself chooses, so pictures drawn before the fallback
    /// existed stay the same), then the user's font, then the system's.
    fn fallback(
        &self,
        c: char,
        used: &[fontdb::ID],
        db: &mut Arc<fontdb::Database>,
    ) -> Option<fontdb::ID> {
        let inner = &self.0;
        let first = db.face(*used.first()?)?;
        let like = (first.style, first.weight, first.stretch);
        let fresh = |db: &fontdb::Database, f: &fontdb::FaceInfo| {
            !used.contains(&f.id) && has_char(db, f.id, c)
        };
        let dejavu = db
            .faces()
            .filter(|f| !inner.user.contains(&f.id) && inner.base.face(f.id).is_some())
            .filter(|f| f.style == like.0 || f.weight == like.1 || f.stretch == like.2)
            .find(|f| fresh(db, f));
        if let Some(f) = dejavu {
            return Some(f.id);
        }
        let user = db.faces().filter(|f| inner.user.contains(&f.id));
        if let Some(id) = closest(like, user.filter(|f| fresh(db, f))) {
            return Some(id);
        }
        let system = inner
            .system
            .as_ref()?
            .get_or_init(|| with_system_fonts(&inner.base));
        // The tree starts from `base`; the system's database holds every
        // face of it under the same ID, so it may take its place.
        if Arc::ptr_eq(db, &inner.base) {
            *db = system.clone();
        } else if !Arc::ptr_eq(db, system) {
            return None;
        }
        let others = db.faces().filter(|f| inner.base.face(f.id).is_none());
        closest(like, others.filter(|f| fresh(db, f)))
    }
}

/// Of `faces`, the first of the same style and weight as `like`, else the
/// first.
fn closest<'a>(
    like: (fontdb::Style, fontdb::Weight, fontdb::Stretch),
    faces: impl Iterator<Item = &'a fontdb::FaceInfo>,
) -> Option<fontdb::ID> {
    let mut first = None;
    for f in faces {
        if f.style == like.0 && f.weight == like.1 {
            return Some(f.id);
        }
        first.get_or_insert(f.id);
    }
    first
}

fn has_char(db: &fontdb::Database, id: fontdb::ID, c: char) -> bool {
    db.with_face_data(id, |data, index| {
        skrifa::FontRef::from_index(data, index)
            .is_ok_and(|font| skrifa::charmap::Charmap::new(&font).map(c).is_some())
    })
    .unwrap_or(false)
}

/// `base` and then the system's fonts, in the order of their paths (the
/// order a folder is listed in is the file system's), so that which font
/// draws a character depends only on the fonts installed.
fn with_system_fonts(base: &fontdb::Database) -> Arc<fontdb::Database> {
    let mut scan = fontdb::Database::new();
    scan.load_system_fonts();
    let mut faces: Vec<fontdb::FaceInfo> = scan.faces().cloned().collect();
    faces.sort_by(|a, b| {
        let path = |f: &fontdb::FaceInfo| match &f.source {
            fontdb::Source::File(p) | fontdb::Source::SharedFile(p, _) => Some(p.clone()),
            fontdb::Source::Binary(_) => None,
        };
        (path(a), a.index).cmp(&(path(b), b.index))
    });
    let mut db = base.clone();
    for f in faces {
        db.push_face_info(f);
    }
    Arc::new(db)
}

/// Options with the built-in fonts and the system's as fallback.
pub fn options() -> usvg::Options<'static> {
    Fonts::default().options()
}

/// Rasterizes an SVG document at `scale` (2 gives crisp slides).
pub fn render(svg: &str, scale: f32) -> Result<Vec<u8>, PngError> {
    render_with(svg, scale, &Fonts::default())
}

/// [`render`] with the given fonts.
pub fn render_with(svg: &str, scale: f32, fonts: &Fonts) -> Result<Vec<u8>, PngError> {
    let tree =
        usvg::Tree::from_str(svg, &fonts.options()).map_err(|e| PngError::Svg(e.to_string()))?;
    let size = tree.size();
    let w = (size.width() * scale).ceil() as u32;
    let h = (size.height() * scale).ceil() as u32;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(PngError::TooLarge(w, h));
    }
    let mut pixmap = Pixmap::new(w.max(1), h.max(1)).ok_or(PngError::TooLarge(w, h))?;
    resvg::render(
        &tree,
        Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| PngError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A system font file that has Chinese characters: `.ci/run`
    /// installs fonts-wqy-microhei for this.
    fn system_cjk_font() -> PathBuf {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        db.faces()
            .filter(|f| has_char(&db, f.id, '三'))
            .find_map(|f| match &f.source {
                fontdb::Source::File(p) | fontdb::Source::SharedFile(p, _) => Some(p.clone()),
                fontdb::Source::Binary(_) => None,
            })
            .expect("no CJK font installed (apt-get install fonts-wqy-microhei)")
    }

    /// DejaVu Sans, the face every fallback starts from.
    fn dejavu(db: &fontdb::Database) -> fontdb::ID {
        db.faces().next().map(|f| f.id).expect("built-in faces")
    }

    #[test]
    fn the_users_font_comes_before_the_systems() {
        let fonts = Fonts::with_file(&system_cjk_font()).expect("the font loads");
        let mut db = fonts.0.base.clone();
        let used = [dejavu(&db)];
        let id = fonts.fallback('三', &used, &mut db).expect("a face for 三");
        assert!(fonts.0.user.contains(&id), "not the user's font");
        assert!(Arc::ptr_eq(&db, &fonts.0.base));
        let system = fonts.0.system.as_ref().expect("system fallback on");
        assert!(system.get().is_none(), "the system's fonts were scanned");
    }

    #[test]
    fn the_systems_fonts_come_after_dejavu_and_keep_its_faces() {
        let fonts = Fonts::new(built_in(), Vec::new(), true, None);
        let base = fonts.0.base.clone();
        let mut db = base.clone();
        // DejaVu has it: the system's fonts are not even looked for.
        let sans = dejavu(&db);
        let bold = db.faces().nth(1).map(|f| f.id).expect("bold");
        assert_eq!(fonts.fallback('é', &[bold], &mut db), Some(sans));
        assert!(fonts.0.system.as_ref().is_some_and(|s| s.get().is_none()));
        let id = fonts
            .fallback('三', &[sans], &mut db)
            .expect("a face for 三");
        assert!(base.face(id).is_none(), "a system font's face");
        assert!(has_char(&db, id, '三'));
        // Every built-in face is still there under its ID.
        for f in base.faces() {
            assert_eq!(
                db.face(f.id).map(|g| &g.post_script_name),
                Some(&f.post_script_name)
            );
        }
        // A character no font has: none, and nothing breaks.
        assert_eq!(fonts.fallback('\u{10FFFD}', &[sans], &mut db), None);
    }

    #[test]
    fn built_in_only_never_falls_back() {
        let fonts = Fonts::built_in_only();
        let mut db = fonts.0.base.clone();
        let used = [dejavu(&db)];
        assert_eq!(fonts.fallback('三', &used, &mut db), None);
        assert!(Arc::ptr_eq(&db, &fonts.0.base));
    }

    #[test]
    fn a_bad_font_file_is_named_in_one_line() {
        let dir = std::env::temp_dir().join(format!("tcpladder-font-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.ttf");
        let e = Fonts::with_file(&missing).unwrap_err().to_string();
        assert!(e.starts_with(&missing.display().to_string()), "{e}");
        assert!(
            e.contains("cannot read") && e.contains("no such file"),
            "{e}"
        );
        let junk = dir.join("junk.ttf");
        std::fs::write(&junk, b"not a font at all").unwrap();
        let e = Fonts::with_file(&junk).unwrap_err().to_string();
        assert!(
            e.starts_with(&junk.display().to_string()) && e.contains("not a font"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
