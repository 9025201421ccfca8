//! The web client in a real headless Chromium, driven over WebDriver; axe-core checks each page
//! (WCAG 2.1 A and AA), and a screenshot of each is saved.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use super::*;

/// A chromedriver of this test's own, on a free port; killed on drop.
struct Driver {
    _child: tokio::process::Child,
    port: u16,
    profile: tempfile::TempDir,
}

fn tool(env: &str, fallback: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| fallback.to_owned())
}

async fn chromedriver() -> anyhow::Result<Driver> {
    let port = free_port()?;
    let binary = tool("LUUKKU_CHROMEDRIVER", "/usr/bin/chromedriver");
    let child = tokio::process::Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| anyhow::anyhow!("starting {binary} ({error}); scripts/test installs it"))?;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(Driver { _child: child, port, profile: tempfile::tempdir()? });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("chromedriver did not listen on {port} within 10 s")
}

/// A headless Chromium with a new profile, phone-sized.
async fn browser(driver: &Driver) -> anyhow::Result<Client> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": tool("LUUKKU_CHROMIUM", "/usr/bin/chromium"),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=412,915",
                format!("--user-data-dir={}", driver.profile.path().display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    Ok(ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await?)
}

/// Saves a screenshot of the page as `<name>.png` in the test run's folder.
async fn screenshot(client: &Client, name: &str) -> anyhow::Result<()> {
    let folder = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&folder)?;
    std::fs::write(folder.join(format!("{name}.png")), client.screenshot().await?)?;
    Ok(())
}

/// What axe-core finds against WCAG 2.1 A and AA on the page: empty when nothing.
async fn accessibility(client: &Client) -> anyhow::Result<Vec<String>> {
    let axe = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/axe-core/axe.min.js");
    let source = std::fs::read_to_string(&axe)
        .map_err(|error| anyhow::anyhow!("reading {} ({error}); scripts/test installs it", axe.display()))?;
    client.execute(&source, vec![]).await?;
    let found = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] })
                 .then(r => done(r.violations.map(v => v.id + ": " + v.help + " at " +
                   v.nodes.map(n => n.target.join(" ")).join(", "))))
                 .catch(e => done(["axe failed: " + e]));"#,
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(found)?)
}

/// Checks the page as a user would: what it says, that it is accessible, and a screenshot.
async fn look(client: &Client, name: &str, says: &str) -> anyhow::Result<String> {
    let text = client.find(Locator::Css("body")).await?.text().await?;
    assert!(text.contains(says), "{name}: expected {says:?} on the page: {text}");
    assert!(!text.contains("panicked") && !text.contains("stack backtrace"), "{name}: {text}");
    let found = accessibility(client).await?;
    assert!(found.is_empty(), "{name}: accessibility: {found:#?}");
    screenshot(client, name).await?;
    Ok(text)
}

async fn fill(client: &Client, id: &str, value: &str) -> anyhow::Result<()> {
    client.find(Locator::Id(id)).await?.send_keys(value).await?;
    Ok(())
}

/// Sends the form and waits for the page it leads to.
async fn submit(client: &Client, form: &str) -> anyhow::Result<()> {
    let old = client.find(Locator::Css("html")).await?;
    client.find(Locator::Css(&format!("{form} button[type=submit]"))).await?.click().await?;
    for _ in 0..100 {
        if old.tag_name().await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..100 {
        if client.execute("return document.readyState", vec![]).await? == "complete" {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the page after {form} did not load")
}

#[tokio::test]
async fn a_contact_person_signs_in_registers_a_family_and_a_second_window_sees_its_consent_live()
-> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let ports = Ports::pick(folder.path())?;
    let dev = start_dev(folder.path(), &ports).await?;
    let driver = chromedriver().await?;
    let client = browser(&driver).await?;
    let base = format!("http://127.0.0.1:{}", ports.web);

    // Signed out, every page leads to sign-in; Finnish by default.
    client.goto(&format!("{base}/caseload")).await?;
    look(&client, "sign-in", "Kirjaudu").await?;
    submit(&client, "form[action='/sign-in']").await?;
    look(&client, "caseload", "Perheeni").await?;

    // A registration with mistakes: each named next to its field, nothing written.
    client.goto(&format!("{base}/families/new")).await?;
    look(&client, "register", "Rekisteröi perhe").await?;
    fill(&client, "child_born", "31.2.2015").await?;
    submit(&client, "form[action='/families']").await?;
    let refused = look(&client, "register-refused", "Korjaa merkityt kentät").await?;
    for field in ["municipality-error", "child_born-error"] {
        assert!(client.find(Locator::Id(field)).await.is_ok(), "{field} is shown: {refused}");
    }

    fill(&client, "municipality", "091").await?;
    fill(&client, "guardian_given", "Maria").await?;
    fill(&client, "guardian_family", "Virtanen").await?;
    fill(&client, "child_given", "Eero").await?;
    fill(&client, "child_family", "Virtanen").await?;
    client.find(Locator::Id("child_born")).await?.clear().await?;
    fill(&client, "child_born", "1.5.2015").await?;
    submit(&client, "form[action='/families']").await?;
    // The page shows the write at once, dates the Finnish way.
    let family = look(&client, "family", "Perhe rekisteröity.").await?;
    assert!(family.contains("Maria Virtanen") && family.contains("1.5.2015"), "{family}");
    let family_url = client.current_url().await?;
    let family_path = family_url.path().to_owned();

    // A second window on the same family.
    let first = client.window().await?;
    let second = client.new_window(false).await?.handle;
    client.switch_to_window(second.clone()).await?;
    client.goto(&format!("{base}{family_path}")).await?;
    let before = client.find(Locator::Id("family-view")).await?.text().await?;
    assert!(!before.contains("school"), "{before}");

    // The first window records a consent: without its signed form it is refused, in words,
    // next to the field.
    client.switch_to_window(first).await?;
    submit(&client, "form[action$='/consents']").await?;
    look(&client, "consent-refused", "Suostumus vaatii allekirjoitetun lomakkeen tunnuksen.").await?;
    assert!(client.find(Locator::Id("signed_form-error")).await.is_ok());
    client.find(Locator::Id("sector-school")).await?.click().await?;
    fill(&client, "purpose", "koulun tuki").await?;
    fill(&client, "valid_until", "31.12.2030").await?;
    fill(&client, "signed_form", "LOMAKE-1").await?;
    submit(&client, "form[action$='/consents']").await?;
    look(&client, "family-consent", "Suostumus tallennettu.").await?;

    // The second window shows it without a reload.
    client.switch_to_window(second).await?;
    let mut seen = String::new();
    for _ in 0..100 {
        seen = client.find(Locator::Id("family-view")).await?.text().await?;
        if seen.contains("school") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.contains("school") && seen.contains("31.12.2030"), "the second window: {seen}");
    look(&client, "family-live", "school").await?;

    // Swedish and English on request.
    client.goto(&format!("{base}/lang?to=sv")).await?;
    look(&client, "caseload-sv", "Mina familjer").await?;
    client.goto(&format!("{base}/lang?to=en")).await?;
    look(&client, "caseload-en", "My caseload").await?;

    // The data-protection officer reads the family's access log: who did what, on which basis.
    client.goto(&format!("{base}/lang?to=fi")).await?;
    submit(&client, "form[action='/sign-out']").await?;
    look(&client, "signed-out", "Kirjaudu").await?;
    client.find(Locator::Id("identity-privacy")).await?.click().await?;
    submit(&client, "form[action='/sign-in']").await?;
    client.goto(&format!("{base}{family_path}/access-log")).await?;
    let log = look(&client, "access-log", "Lokitiedot").await?;
    assert!(log.contains("dev.contact") && log.contains("RegisterFamily"), "{log}");
    assert!(log.contains("GrantConsent") && log.contains("sallittu"), "{log}");

    client.close().await?;
    stop(dev).await
}
