//! `vouch demo-crm`: the built-in demo CRM on its own, for trying a
//! configured CRM URL against known customers.

/// `vouch demo-crm`'s options.
#[derive(Debug, clap::Args)]
pub struct DemoCrmOpts {
    /// Port to listen on.
    #[arg(long, default_value_t = 8081)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
}

/// Serves the embedded demo customers until stopped.
pub async fn run(opts: DemoCrmOpts) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind((opts.bind.as_str(), opts.port))?;
    tracing::info!(addr = %listener.local_addr()?, "demo CRM listening");
    crate::crm::demo::serve(listener, crate::crm::demo::DemoData::embedded())?.await?;
    Ok(())
}
