//! `rajoints config`.

use clap::Args;
use snafu::Whatever;

use super::CommonArgs;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the effective configuration as TOML.
    #[arg(long)]
    print: bool,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: ConfigArgs) -> Result<(), Whatever> {
    let cfg = args.common.load(&[])?;
    if args.print {
        print!("{}", cfg.to_toml());
    } else {
        println!("configuration is valid (use --print to show it)");
    }
    Ok(())
}
