//! The command line itself: help, configuration printing and environment overrides.

mod common;

#[test]
fn help_lists_the_subcommands_and_exit_status() {
    let out = common::rajoints(&["--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["analyze", "config", "Exit status"] {
        assert!(text.contains(word), "{word} missing from --help:\n{text}");
    }
}

#[test]
fn config_print_shows_paper_defaults_and_env_overrides() {
    let out = common::rajoints(&["config", "--print"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "stride = 150",
        "t_conf = 0.9",
        "t_iou1 = 0.15",
        "m1 = 20",
        "m2 = 18",
        "t_iou2 = 0.45",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    let out = common::rajoints(&["config", "--print"])
        .env("RAJOINTS__PIPELINE__STRIDE", "100")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("stride = 100"));
}

#[test]
fn bad_configuration_is_a_message_and_exit_2() {
    let out = common::rajoints(&["config", "--print", "--set", "pipeline.t_iou2=7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pipeline.t_iou2"), "{err}");
}
