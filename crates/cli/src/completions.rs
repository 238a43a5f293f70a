//! `ocipull completions SHELL`: a completion script for the shell, to stdout.
//!
//! For example `ocipull completions bash > /etc/bash_completion.d/ocipull`, or
//! `ocipull completions zsh > "${fpath[1]}/_ocipull"`.

/// Arguments of `ocipull completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell.
    #[arg(value_name = "SHELL")]
    shell: clap_complete::Shell,
}

/// Runs `ocipull completions`.
pub fn run(args: Args) -> crate::CmdResult {
    let mut command = <crate::Cli as clap::CommandFactory>::command();
    clap_complete::generate(args.shell, &mut command, "ocipull", &mut std::io::stdout());
    Ok(())
}
