use super::*;

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn a_thumbnail_query_is_parsed_with_its_defaults() {
    let r = parse("thumbnail.png", &q(&[("time", "1.5"), ("width", "320")])).unwrap();
    assert_eq!(
        r,
        ImageRequest::Thumbnail(Thumbnail {
            format: Format::Png,
            time_ms: Some(1500),
            width: Some(320),
            height: None,
            fit: Fit::Preserve,
        })
    );
    let r = parse("thumbnail.jpg", &q(&[("fit_mode", "pad"), ("height", "90")])).unwrap();
    assert!(matches!(r, ImageRequest::Thumbnail(Thumbnail { fit: Fit::Pad, time_ms: None, .. })));
    assert!(r.follows_poster());
}

#[test]
fn equal_queries_have_one_canonical_form() {
    let a = parse("thumbnail.jpg", &q(&[("time", "1.5"), ("width", "320")])).unwrap();
    let b = parse("thumbnail.jpeg", &q(&[("width", "320"), ("time", "1.500")])).unwrap();
    assert_eq!(a.canonical(None), b.canonical(None));
    let c = parse("thumbnail.jpg", &q(&[("time", "1.501"), ("width", "320")])).unwrap();
    assert_ne!(a.canonical(None), c.canonical(None));
    let p = parse("thumbnail.jpg", &[]).unwrap();
    assert_ne!(p.canonical(Some(1000)), p.canonical(Some(2000)));
    assert!(!a.follows_poster());
}

#[test]
fn an_animation_query_has_defaults_and_bounds() {
    let r = parse("animated.gif", &[]).unwrap();
    assert_eq!(
        r,
        ImageRequest::Animated(Animated {
            format: Format::Gif,
            start_ms: 0,
            end_ms: None,
            width: DEFAULT_ANIMATED_WIDTH,
            fps: DEFAULT_FPS,
        })
    );
    let ImageRequest::Animated(a) = r else { unreachable!() };
    assert_eq!(animated_span(&a, 3000).unwrap(), (0, 3000));
    assert_eq!(animated_span(&a, 60_000).unwrap(), (0, 5000));
    for bad in [
        &[("end", "10.5")][..],
        &[("start", "2"), ("end", "1")],
        &[("start", "1"), ("end", "11.001")],
        &[("width", "641")],
        &[("fps", "31")],
        &[("fps", "0")],
    ] {
        let e = parse("animated.gif", &q(bad)).map(|r| {
            let ImageRequest::Animated(a) = r else { unreachable!() };
            animated_span(&a, 10_000)
        });
        assert!(
            matches!(e, Err(ParamError::Range(_)) | Ok(Err(ParamError::Range(_)))),
            "{bad:?}: {e:?}"
        );
    }
}

#[test]
fn out_of_range_and_malformed_values_are_refused() {
    for (file, bad) in [
        ("thumbnail.jpg", &[("width", "1921")][..]),
        ("thumbnail.jpg", &[("height", "0")]),
        ("thumbnail.jpg", &[("time", "-1")]),
        ("thumbnail.jpg", &[("time", "inf")]),
    ] {
        assert!(matches!(parse(file, &q(bad)), Err(ParamError::Range(_))), "{bad:?}");
    }
    for bad in [
        &[("width", "12px")][..],
        &[("time", "abc")],
        &[("fit_mode", "stretch")],
        &[("widht", "100")],
        &[("width", "100"), ("width", "200")],
    ] {
        assert!(matches!(parse("thumbnail.jpg", &q(bad)), Err(ParamError::Invalid(_))), "{bad:?}");
    }
    assert!(matches!(parse("thumbnail.bmp", &[]), Err(ParamError::Format(_))));
    assert!(matches!(parse("animated.png", &[]), Err(ParamError::Format(_))));
    assert_eq!(parse("poster.jpg", &[]), Err(ParamError::NotFound));
    assert_eq!(parse("thumbnail", &[]), Err(ParamError::NotFound));
}

#[test]
fn a_thumbnail_time_must_fall_inside_the_video() {
    let ImageRequest::Thumbnail(t) = parse("thumbnail.jpg", &q(&[("time", "4")])).unwrap() else {
        unreachable!()
    };
    assert_eq!(thumbnail_time(&t, 4001, None), Ok(4000));
    assert!(matches!(thumbnail_time(&t, 4000, None), Err(ParamError::Range(_))));
    let ImageRequest::Thumbnail(p) = parse("thumbnail.jpg", &[]).unwrap() else { unreachable!() };
    assert_eq!(thumbnail_time(&p, 8000, None), Ok(2000));
    assert_eq!(thumbnail_time(&p, 8000, Some(7000)), Ok(7000));
}
