//! Every service flattens its own settings into `framelog serve`: two flags (or two argument
//! ids) with the same name would make clap panic at start-up, so the whole command line is
//! checked here, and the hostile-media limits are parsed through it.

use clap::{CommandFactory, Parser};
use framelog::cli::{Cli, Command};

#[test]
fn the_command_line_has_no_clashing_flags() {
    Cli::command().debug_assert();
}

#[test]
fn ingest_and_transcoder_media_limits_are_set_apart() {
    let cli = Cli::parse_from([
        "framelog",
        "serve",
        "--ingest-max-duration-secs",
        "3600",
        "--transcode-max-duration-secs",
        "7200",
        "--transcode-deadline-factor",
        "2.5",
    ]);
    let Command::Serve(s) = cli.command else { panic!("not serve") };
    assert_eq!(s.ingest.limits.max_duration_secs, 3600.0);
    assert_eq!(s.transcoder.limits.max_duration_secs, 7200.0);
    assert_eq!(s.ingest.limits.max_streams, 16);
    assert_eq!(s.transcoder.deadline_factor, 2.5);
}
