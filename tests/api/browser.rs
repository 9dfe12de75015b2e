//! The chat page and GraphiQL in a real browser: Debian's headless Chromium driven over
//! WebDriver (chromedriver), against the real server and the fake Anthropic API. Chromium runs
//! with every address but loopback unreachable, so a page that needed the internet would fail.
//!
//! Needs `chromium` and `chromium-driver` (`apt-get install chromium chromium-driver`; `CHROMIUM`
//! and `CHROMEDRIVER` name other binaries). Without them these tests are skipped, except under
//! `CI`. Screenshots of both pages, at desktop and phone width, go to
//! `target/tmp/screenshots/` (the README's come from there).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::fake_anthropic::{Ending, Reply, StreamReply};
use crate::helpers::{Backend, TestApp};
use crate::ws::{CHAT, GqlSocket, Protocol};

crate::on_both_backends!(a_fact_said_in_chat_appears_in_the_memory_panel_and_can_be_forgotten);

const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);
/// Upper bound for anything the page waits for (not a timing target: a hang fails instead of
/// blocking the suite).
const PATIENCE: Duration = Duration::from_secs(30);

/// The Chromium and chromedriver binaries; `None` (after saying so) when they are missing outside CI.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let find = |variable: &str, candidates: &[&str]| {
        std::env::var_os(variable)
            .map(PathBuf::from)
            .or_else(|| candidates.iter().map(PathBuf::from).find(|p| p.exists()))
    };
    // The binary itself, not Debian's /usr/bin/chromium wrapper script (which adds its own flags).
    let chromium = find("CHROMIUM", &["/usr/lib/chromium/chromium", "/usr/bin/chromium"]);
    let driver = find("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "CI must run the browser tests: apt-get install chromium chromium-driver (or set CHROMIUM and CHROMEDRIVER)"
            )
        }
        _ => {
            eprintln!(
                "chromium or chromedriver is missing: skipping the browser tests (apt-get install chromium chromium-driver)"
            );
            None
        }
    }
}

/// chromedriver and the Chromium it starts, in a process group of their own: dropping this ends
/// both even when a test panics.
struct Driver {
    process: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.process.wait();
    }
}

/// A browser tab on the test server.
struct Page {
    client: Client,
    base: String,
    _driver: Driver,
}

impl Page {
    async fn open(app: &TestApp, (width, height): (u32, u32)) -> Option<Self> {
        let (chromium, chromedriver) = browser_binaries()?;
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().unwrap().port()
        };
        let process = {
            use std::os::unix::process::CommandExt as _;
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start chromedriver")
        };
        let profile = tempfile::tempdir().expect("profile dir");
        let driver = Driver { process, _profile: profile };
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", driver._profile.path().display()),
            format!("--window-size={width},{height}"),
            // The outside world is unreachable: names other than loopback do not resolve, and
            // every other connection goes to a proxy that is not there.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".to_owned(),
            "--proxy-server=http://127.0.0.1:9".to_owned(),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await {
                Ok(client) => break client,
                Err(error) if Instant::now() > deadline => {
                    panic!("could not start Chromium through chromedriver: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let page = Self { client, base: app.address.clone(), _driver: driver };
        page.resize((width, height)).await;
        Some(page)
    }

    /// Makes the viewport (not the window, which counts a frame even when headless) this size.
    async fn resize(&self, (width, height): (u32, u32)) {
        self.client.set_window_size(width, height).await.expect("window size");
        let frame =
            self.js("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]").await;
        let extra = |i: usize| frame[i].as_u64().unwrap_or(0) as u32;
        self.client.set_window_size(width + extra(0), height + extra(1)).await.expect("window size");
    }

    async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("navigate");
    }

    /// Runs a script (its `return` value comes back); `arguments[0..]` are `args`.
    async fn js_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    async fn js(&self, script: &str) -> Value {
        self.js_with(script, vec![]).await
    }

    /// Waits until the expression is truthy; returns its value. Fails the test, naming `what`,
    /// when it never is.
    async fn wait_for(&self, what: &str, expression: &str) -> Value {
        let script = format!("return ({expression});");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let value = self.js(&script).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let name: String = what.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
                let shot = self.screenshot(&format!("failed-waiting-for-{name}")).await;
                panic!("gave up waiting for {what} (`{expression}`); the page is in {}", shot.display());
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }

    /// Clicks the element `css` finds. A live page re-renders (a memory event, a refreshed list):
    /// when the element is replaced between being found and clicked, or is briefly gone while the
    /// list is rebuilt, it is found again.
    async fn click(&self, css: &str) {
        self.click_retrying(css, None, css).await;
    }

    /// Clicks the element the JavaScript `expression` evaluates to (`what` names it when there is
    /// none). It is marked and clicked through the mark; when a re-render replaces it in between,
    /// it is looked up and marked again.
    async fn click_element(&self, what: &str, expression: &str) {
        let mark = format!(
            "document.querySelectorAll('[data-test-target]').forEach(e => e.removeAttribute('data-test-target'));
             const e = ({expression}); if (e) e.setAttribute('data-test-target', '1'); return !!e;"
        );
        self.click_retrying(what, Some(&mark), "[data-test-target]").await;
        self.js("document.querySelector('[data-test-target]')?.removeAttribute('data-test-target'); return null").await;
    }

    /// Finds `css` and clicks it, up to ten more times while the element is stale or missing;
    /// `mark` (a script that must return true, else there is no `what`) runs before each attempt.
    async fn click_retrying(&self, what: &str, mark: Option<&str>, css: &str) {
        let mut attempts = 0;
        loop {
            if let Some(mark) = mark {
                assert_eq!(self.js(mark).await, json!(true), "no {what} on the page");
            }
            let outcome = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.click().await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(()) => return,
                Err(fantoccini::error::CmdError::Standard(error))
                    if matches!(
                        error.error,
                        fantoccini::error::ErrorStatus::StaleElementReference
                            | fantoccini::error::ErrorStatus::NoSuchElement
                    ) && attempts < 10 =>
                {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("click {what}: {error}"),
            }
        }
    }

    /// Clicks the button whose visible text is `text` inside `scope` (a CSS selector).
    async fn click_button(&self, scope: &str, text: &str) {
        let expression = format!(
            "[...document.querySelectorAll({} + ' button')].find(b => b.textContent.trim() === {})",
            json!(scope),
            json!(text)
        );
        self.click_element(&format!("button “{text}” in {scope}"), &expression).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        field.send_keys(text).await.expect("type");
    }

    async fn sign_in(&self, key: &str, path: &str) {
        self.goto(path).await;
        self.wait_for("the sign-in form", "!document.getElementById('signin').hidden").await;
        self.type_into("#signin-key", key).await;
        self.click("#signin-form button[type=submit]").await;
        self.wait_for("the signed-in page", "!document.getElementById('app').hidden").await;
    }

    /// Sends a message from the composer.
    async fn say(&self, text: &str) {
        self.type_into("#message-input", text).await;
        self.click("#send").await;
    }

    /// The last answer on the page: its status and visible text.
    async fn last_answer(&self) -> (String, String) {
        let value = self
            .js("const a = [...document.querySelectorAll('#messages .from-assistant')].at(-1);
                 return a ? [a.dataset.status, a.querySelector('.content').textContent] : ['', ''];")
            .await;
        (value[0].as_str().unwrap_or_default().to_owned(), value[1].as_str().unwrap_or_default().to_owned())
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(&path, png).expect("write screenshot");
        }
        path
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

async fn spawn() -> TestApp {
    TestApp::spawn(Backend::Sqlite).await.expect("SQLite always runs")
}

/// A stream that arrives in visible steps: each piece its own event, `delay` apart.
fn slow(pieces: &[&str], delay: Duration) -> Reply {
    Reply::Stream(StreamReply {
        pieces: Some(pieces.iter().map(|p| p.to_string()).collect()),
        chunk_per_event: true,
        chunk_delay: delay,
        ..StreamReply::text(pieces.concat())
    })
}

async fn messages(app: &TestApp, key: &str, conversation: &str) -> Vec<Value> {
    let data = app
        .data(
            key,
            "query($id: ID!) { conversation(id: $id) { messages(last: 50) { nodes { role content status } } } }",
            json!({ "id": conversation }),
        )
        .await;
    data["conversation"]["messages"]["nodes"].as_array().cloned().unwrap_or_default()
}

async fn conversations(app: &TestApp, key: &str) -> Vec<Value> {
    let data = app.data(key, "{ conversations(first: 50) { nodes { id title } } }", json!({})).await;
    data["conversations"]["nodes"].as_array().cloned().unwrap_or_default()
}

/// Records what the Content-Security-Policy blocks from now on (nothing should be).
const RECORD_VIOLATIONS: &str = "window.__violations = [];
    document.addEventListener('securitypolicyviolation', e => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    return true;";

/// Records each distinct text the last answer shows, as the page renders it.
const RECORD_STEPS: &str = "window.__steps = [];
    new MutationObserver(() => {
      const content = [...document.querySelectorAll('#messages .from-assistant .content')].at(-1);
      const text = content ? content.textContent : '';
      if (text && window.__steps.at(-1) !== text) window.__steps.push(text);
    }).observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
    return true;";

#[tokio::test]
async fn the_chat_page_streams_an_answer_stops_one_and_manages_conversations() {
    let app = spawn().await;
    let Some(page) = Page::open(&app, DESKTOP).await else { return };
    let (_, key) = app.create_user("Ada").await;

    page.sign_in(&key, "/").await;
    page.js(RECORD_VIOLATIONS).await;
    page.wait_for("the greeting", "document.querySelector('.empty h2')?.textContent === 'Hello, Ada.'").await;
    page.click("#new-conversation").await;
    page.wait_for("the new conversation, selected", "document.querySelector('#conversation-list li.is-current')").await;
    let conversation = conversations(&app, &key).await[0]["id"].as_str().unwrap().to_owned();

    // The answer grows on the page in the steps it streams in, and ends complete.
    app.anthropic.push_stream(slow(&["Lisbon ", "is ", "**lovely** ", "in ", "spring."], Duration::from_millis(400)));
    page.js(RECORD_STEPS).await;
    page.say("What is Lisbon like?").await;
    page.wait_for(
        "the completed answer",
        "document.querySelector('#messages .from-assistant')?.dataset.status === 'COMPLETE'",
    )
    .await;
    let steps: Vec<String> =
        serde_json::from_value(page.js("return window.__steps").await).expect("the recorded steps");
    assert!(steps.len() >= 3, "the answer should grow in visible steps, saw {steps:?}");
    for pair in steps.windows(2) {
        assert!(pair[1].starts_with(&pair[0]) && pair[1].len() > pair[0].len(), "each step adds text: {steps:?}");
    }
    assert_eq!(steps.last().map(String::as_str), Some("Lisbon is lovely in spring."));
    assert_eq!(page.last_answer().await, ("COMPLETE".to_owned(), "Lisbon is lovely in spring.".to_owned()));
    assert_eq!(
        page.js("return document.querySelector('#messages .from-assistant strong')?.textContent").await,
        "lovely"
    );
    let stored = messages(&app, &key, &conversation).await;
    assert_eq!(stored[1]["content"], "Lisbon is **lovely** in spring.");
    assert_eq!(stored[1]["status"], "COMPLETE");

    // Stop mid-answer: the page says it was interrupted, and so does the stored message.
    let pieces: Vec<String> = (1..=60).map(|i| format!("word{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    app.anthropic.push_stream(slow(&pieces, Duration::from_millis(100)));
    // Enter sends.
    page.type_into("#message-input", "Tell me a long story\u{E007}").await;
    page.wait_for(
        "the second answer to begin",
        "[...document.querySelectorAll('#messages .from-assistant')].at(-1)?.textContent.includes('word3')",
    )
    .await;
    page.click("#stop").await;
    page.wait_for(
        "the interrupted badge",
        "[...document.querySelectorAll('#messages .from-assistant')].at(-1)?.querySelector('.badge')?.textContent.startsWith('Interrupted')",
    )
    .await;
    let deadline = Instant::now() + PATIENCE;
    let stored = loop {
        let stored = messages(&app, &key, &conversation).await;
        if stored[3]["status"] != "STREAMING" || Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(stored[3]["status"], "INTERRUPTED");
    let kept = stored[3]["content"].as_str().unwrap();
    assert!(kept.starts_with("word1 word2 word3") && !kept.contains("word60"), "kept the part that arrived: {kept}");
    crate::helpers::eventually(
        "the upstream stream to be dropped",
        || async { app.anthropic.dropped_streams() },
        |n| *n >= 1,
    )
    .await;
    // The page shows the stored answer after a reload too.
    assert_eq!(page.js("return window.__violations").await, json!([]), "the policy blocked nothing the page needs");
    page.client.refresh().await.unwrap();
    page.js(RECORD_VIOLATIONS).await;
    page.wait_for("the reloaded conversation", "document.querySelectorAll('#messages .message').length === 4").await;
    let (status, text) = page.last_answer().await;
    assert_eq!(status, "INTERRUPTED");
    assert_eq!(text.trim(), kept.trim());
    assert!(
        page.js("return document.querySelector('#messages .from-assistant:last-child .badge').textContent")
            .await
            .as_str()
            .unwrap()
            .starts_with("Interrupted")
    );

    // Rename and delete, from the list.
    page.click("#conversation-list li.is-current button[title^='Rename']").await;
    page.js("document.querySelector('.rename input').value = ''; return null").await;
    page.type_into(".rename input", "Lisbon trip\u{E007}").await;
    page.wait_for(
        "the new title in the list",
        "document.querySelector('#conversation-list .conversation-title')?.textContent === 'Lisbon trip'",
    )
    .await;
    assert_eq!(conversations(&app, &key).await[0]["title"], "Lisbon trip");
    assert_eq!(page.js("return document.getElementById('conversation-title').textContent").await, "Lisbon trip");
    page.click("#conversation-list li.is-current button[title^='Delete']").await;
    page.wait_for("the confirmation", "document.querySelector('dialog[open]')").await;
    page.click_button("dialog[open]", "Delete conversation").await;
    page.wait_for("the emptied list", "document.querySelectorAll('#conversation-list li').length === 0").await;
    assert!(conversations(&app, &key).await.is_empty(), "the conversation is gone from the API too");
    assert_eq!(page.js("return window.__violations").await, json!([]), "the policy blocked nothing the page needs");
    page.close().await;
}

#[tokio::test]
async fn a_thumbs_down_saying_too_long_changes_the_style_profile_shown() {
    let app = spawn().await;
    let Some(page) = Page::open(&app, DESKTOP).await else { return };
    let (_, key) = app.create_user("Ada").await;
    let id = app.data(&key, "mutation { createConversation(input: {title: \"Soup\"}) { id } }", json!({})).await
        ["createConversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.anthropic
        .push_stream(Reply::Stream(StreamReply::text("Soup is a liquid food, usually served warm. ".repeat(8))));
    app.data(&key, "mutation($id: ID!) { sendMessage(input: {conversationId: $id, message: \"What is soup?\"}) { message { id } } }", json!({ "id": id }))
        .await;

    page.sign_in(&key, &format!("/#c={id}")).await;
    page.wait_for("the answer's rating buttons", "document.querySelector('#messages .from-assistant .rate-down')")
        .await;
    page.click("#open-knowledge").await;
    page.click("#tab-style").await;
    let verbosity = "document.querySelector('#panel-style [data-name=verbosity] .style-sentence')?.textContent";
    // The message itself was a faint signal; nothing that says "short" yet.
    let before = page.wait_for("the style profile", verbosity).await;
    assert!(
        before == "No clear preference about answer length yet."
            || before == "Nothing learned about answer length yet.",
        "{before}"
    );

    page.click("#messages .from-assistant .rate-down").await;
    page.wait_for("the reason form", "document.querySelector('.rate-form')").await;
    page.click_button(".rate-form", "Too long").await;
    page.wait_for("the learned style", &format!("{verbosity} === 'You prefer short, to-the-point answers.'")).await;
    assert_eq!(page.js("return document.querySelector('.rate-down').getAttribute('aria-pressed')").await, "true");
    let profile = app.data(&key, "{ styleProfile { dimensions { name value instruction } } }", json!({})).await;
    let dimension =
        profile["styleProfile"]["dimensions"].as_array().unwrap().iter().find(|d| d["name"] == "verbosity").cloned();
    let dimension = dimension.expect("verbosity");
    assert!(dimension["value"].as_f64().unwrap() < 0.5, "{dimension}");
    assert!(dimension["instruction"].is_string(), "{dimension}");
    page.close().await;
}

async fn a_fact_said_in_chat_appears_in_the_memory_panel_and_can_be_forgotten(app: TestApp) {
    let Some(page) = Page::open(&app, DESKTOP).await else { return };
    let (_, key) = app.create_user("Ada").await;
    page.sign_in(&key, "/").await;
    page.click("#open-knowledge").await;
    page.wait_for("the empty memory list", "document.querySelector('#panel-memories .memory-list .muted')").await;
    // Nothing below reloads the page: this mark would be gone if it did.
    page.js("window.__sameDocument = true; return null").await;

    page.say("I am allergic to peanuts").await;
    page.wait_for("the answer", "document.querySelector('#messages .from-assistant')?.dataset.status === 'COMPLETE'")
        .await;
    page.wait_for(
        "the memory to appear",
        "[...document.querySelectorAll('#panel-memories .memory-content')].some(m => /peanut/i.test(m.textContent))",
    )
    .await;
    assert_eq!(page.js("return window.__sameDocument === true").await, true, "the page was not reloaded");
    let listed = |data: Value| {
        data["memories"]["nodes"].as_array().unwrap().iter().any(|m| m["content"].as_str().unwrap().contains("peanut"))
    };
    assert!(listed(app.data(&key, "{ memories(first: 50) { nodes { content } } }", json!({})).await));

    // Search finds it; an edit keeps the former text in its history.
    page.type_into("#memory-search", "peanuts").await;
    page.wait_for(
        "the search result",
        "document.querySelector('#panel-memories .memory .meta')?.textContent.includes('match')",
    )
    .await;
    let peanut = "[...document.querySelectorAll('#panel-memories .memory')].find(m => /peanut/i.test(m.textContent))";
    page.click_element("the memory's edit link", &format!("{peanut}?.querySelector('.link-btn')")).await;
    let area = page.client.find(Locator::Css("#panel-memories .memory textarea")).await.expect("the editor");
    area.clear().await.unwrap();
    area.send_keys("Allergic to peanuts and cashews").await.unwrap();
    page.click_button("#panel-memories .memory", "Save").await;
    page.wait_for(
        "the edited memory",
        &format!("{peanut}?.querySelector('.memory-content').textContent === 'Allergic to peanuts and cashews'"),
    )
    .await;
    page.click_element("the memory's history toggle", &format!("{peanut}?.querySelector('[aria-expanded]')")).await;
    page.wait_for(
        "the former version",
        &format!("{peanut}.querySelector('.memory-history li')?.textContent.includes('“Allergic to peanuts”')"),
    )
    .await;

    page.click_element("the memory's forget button", &format!("{peanut}?.querySelector('.forget')")).await;
    page.wait_for("the confirmation", "document.querySelector('dialog[open]')").await;
    page.click_button("dialog[open]", "Forget").await;
    page.wait_for(
        "the memory to leave the panel",
        "![...document.querySelectorAll('#panel-memories .memory-content')].some(m => /peanut/i.test(m.textContent))",
    )
    .await;
    assert!(
        !listed(app.data(&key, "{ memories(first: 50) { nodes { content } } }", json!({})).await),
        "forgotten in the API too"
    );
    page.close().await;
}

#[tokio::test]
async fn html_and_script_links_in_messages_and_answers_stay_inert_text() {
    let app = spawn().await;
    let Some(page) = Page::open(&app, DESKTOP).await else { return };
    let (_, key) = app.create_user("Ada").await;
    const ASKED: &str =
        "<img src=x onerror=alert(1)> [click me](javascript:alert(1)) see [docs](https://example.org/docs)";
    const ANSWER: &str = "Here: <img src=x onerror=alert(2)> [open](javascript:alert(2)) \
                          <script>alert(3)</script> [data](data:text/html,<b>x</b>) and https://example.org/ok";
    app.anthropic.push_stream(Reply::Stream(StreamReply::text(ANSWER)));

    page.sign_in(&key, "/").await;
    page.say(ASKED).await;
    page.wait_for("the answer", "document.querySelector('#messages .from-assistant')?.dataset.status === 'COMPLETE'")
        .await;

    let inspect = "const box = document.getElementById('messages');
        return {
          elements: box.querySelectorAll('img, script, iframe, object, embed').length,
          links: [...box.querySelectorAll('a')].map(a => a.getAttribute('href')),
          text: box.textContent,
        };";
    for moment in ["as streamed", "after a reload"] {
        let seen = page.js(inspect).await;
        assert_eq!(seen["elements"], 0, "{moment}: no element made from the text: {seen}");
        // The user's text is shown as typed; the answer's Markdown links to javascript:/data: stay as written.
        let text = seen["text"].as_str().unwrap();
        assert!(text.contains("<img src=x onerror=alert(1)> [click me](javascript:alert(1))"), "{moment}: {text}");
        assert!(text.contains("<img src=x onerror=alert(2)> [open](javascript:alert(2))"), "{moment}: {text}");
        assert!(text.contains("<script>alert(3)</script>"), "{moment}: {text}");
        assert!(text.contains("[data](data:text/html,<b>x</b>)"), "{moment}: {text}");
        // Only the answer's http(s) links are links (the user's own text is never parsed).
        assert_eq!(seen["links"], json!(["https://example.org/ok"]), "{moment}");
        assert!(page.client.get_alert_text().await.is_err(), "{moment}: no dialog opened");
        page.client.refresh().await.unwrap();
        page.wait_for(
            "the reloaded answer",
            "document.querySelector('#messages .from-assistant')?.dataset.status === 'COMPLETE'",
        )
        .await;
    }
    page.close().await;
}

#[tokio::test]
async fn a_refusal_and_a_failed_answer_each_get_a_clear_line_and_a_retry() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("CHAT_MAX_CONCURRENT_STREAMS", "1")]).await.unwrap();
    let Some(page) = Page::open(&app, DESKTOP).await else { return };
    let (_, key) = app.create_user("Ada").await;
    let conversation = app
        .data(&key, "mutation { createConversation(input: {title: \"Busy\"}) { id } }", json!({}))
        .await["createConversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another device is getting a long answer, and one answer at a time is allowed.
    let pieces: Vec<String> = (1..=100).map(|i| format!("w{i} ")).collect();
    app.anthropic.push_stream(slow(&pieces.iter().map(String::as_str).collect::<Vec<_>>(), Duration::from_millis(100)));
    let mut other = GqlSocket::with_key(app.port, Protocol::TransportWs, &key).await;
    other.subscribe("1", CHAT, json!({ "c": conversation, "m": "A long one, please" })).await;
    crate::helpers::eventually(
        "the long answer's request",
        || async { app.anthropic.stream_requests().len() },
        |n| *n == 1,
    )
    .await;

    page.sign_in(&key, &format!("/#c={conversation}")).await;
    page.say("Hello?").await;
    let line = page
        .wait_for("the refusal", "document.querySelector('#messages .from-user.not-sent .message-error')?.textContent")
        .await;
    assert!(line.as_str().unwrap().starts_with("Too many answers at once"), "{line}");
    // Nothing was stored or started: no answer follows the refused message.
    assert_eq!(
        page.js("return document.querySelector('#messages .message:last-child').classList.contains('not-sent')").await,
        true
    );

    // The other answer ends; Retry sends again, and this answer fails mid-way (retryable).
    other.unsubscribe("1").await;
    let deadline = Instant::now() + PATIENCE;
    while messages(&app, &key, &conversation).await.iter().any(|m| m["status"] == "STREAMING") {
        assert!(Instant::now() < deadline, "the other answer never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.anthropic.push_stream(Reply::Stream(StreamReply {
        ending: Ending::ErrorAfter(3),
        ..StreamReply::text("This answer breaks off")
    }));
    app.anthropic.push_stream(Reply::Stream(StreamReply::text("Now it works.")));
    page.click("#messages .from-user.not-sent .retry").await;
    page.wait_for(
        "the failed answer",
        "[...document.querySelectorAll('#messages .from-assistant')].at(-1)?.dataset.status === 'FAILED'",
    )
    .await;
    let failed = page.js("return [...document.querySelectorAll('#messages .from-assistant')].at(-1).textContent").await;
    assert!(failed.as_str().unwrap().contains("Failed before the end"), "{failed}");
    page.click("#messages .from-assistant .retry").await;
    page.wait_for(
        "the retried answer",
        "[...document.querySelectorAll('#messages .from-assistant')].at(-1)?.dataset.status === 'COMPLETE'",
    )
    .await;
    assert_eq!(page.last_answer().await.1, "Now it works.");
    other.close().await;
    page.close().await;
}

#[tokio::test]
async fn inferred_preferences_can_be_confirmed_or_rejected_and_set_in_the_panel() {
    let app = spawn().await;
    let Some(page) = Page::open(&app, DESKTOP).await else { return };
    let (_, key) = app.create_user("Ada").await;
    page.sign_in(&key, "/").await;
    page.say("I am vegetarian, and I prefer metric units").await;
    page.wait_for("the answer", "document.querySelector('#messages .from-assistant')?.dataset.status === 'COMPLETE'")
        .await;
    // Learning runs after the answer; wait for it through the API, then look.
    let preferences =
        || async { app.data(&key, "{ preferences { key value source } }", json!({})).await["preferences"].clone() };
    let deadline = Instant::now() + PATIENCE;
    while preferences().await.as_array().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the preferences were never inferred");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    page.click("#open-knowledge").await;
    page.click("#tab-preferences").await;
    let diet = "document.querySelector('#panel-preferences [data-key=diet]')";
    let inferred = page.wait_for("the inferred diet", &format!("{diet}?.textContent")).await;
    assert!(inferred.as_str().unwrap().contains("Inferred"), "{inferred}");

    page.click("#panel-preferences [data-key=diet] button[aria-label^='Confirm']").await;
    page.wait_for("the confirmed diet", &format!("{diet}?.textContent.includes('You set this')")).await;
    page.click("#panel-preferences [data-key=units] button[aria-label^='Reject']").await;
    page.wait_for("the rejected units to go", "!document.querySelector('#panel-preferences [data-key=units]')").await;
    page.type_into("#pref-key", "response_length").await;
    page.type_into("#pref-value", "short").await;
    page.click(".set-preference button[type=submit]").await;
    page.wait_for(
        "the set preference",
        "document.querySelector('#panel-preferences [data-key=response_length]')?.textContent.includes('short')",
    )
    .await;

    let mut now: Vec<(String, String, String)> = serde_json::from_value::<Vec<Value>>(preferences().await)
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap().into(),
                p["value"].as_str().unwrap().into(),
                p["source"].as_str().unwrap().into(),
            )
        })
        .collect();
    now.sort();
    let explicit = |k: &str, v: &str| (k.to_owned(), v.to_owned(), "EXPLICIT".to_owned());
    assert_eq!(now, vec![explicit("diet", "vegetarian"), explicit("response_length", "short")]);
    let history = app.data(&key, "{ preferenceHistory(key: \"units\") { value change } }", json!({})).await;
    assert_eq!(history["preferenceHistory"], json!([{ "value": "metric", "change": "REJECTED" }]));
    page.close().await;
}

#[tokio::test]
async fn export_downloads_my_data_and_delete_my_data_asks_first_then_signs_out() {
    let app = spawn().await;
    let Some(page) = Page::open(&app, DESKTOP).await else { return };
    let (_, key) = app.create_user("Ada").await;
    app.data(&key, "mutation { remember(input: {content: \"Plays the cello\"}) { id } }", json!({})).await;
    page.sign_in(&key, "/").await;
    // The export is handed to the browser as a Blob download; keep a hold of the Blob.
    page.js("const make = URL.createObjectURL; URL.createObjectURL = (blob) => { window.__download = blob; return make(blob); }; return null")
        .await;
    page.click("#account-menu summary").await;
    page.click("#export").await;
    page.wait_for("the download", "window.__download").await;
    let exported = page.js("return window.__download.text()").await;
    let exported: Value = serde_json::from_str(exported.as_str().unwrap()).expect("the export is JSON");
    assert_eq!(exported["user"]["displayName"], "Ada");
    assert_eq!(exported["memories"][0]["content"], "Plays the cello");

    page.click("#account-menu summary").await;
    page.click("#delete-data").await;
    page.wait_for("the confirmation", "document.querySelector('dialog[open] #confirm-input')").await;
    let confirm = "document.querySelector('dialog[open] button.danger').disabled";
    assert_eq!(page.js(&format!("return {confirm}")).await, true, "nothing is deleted without typing the word");
    page.click_button("dialog[open]", "Cancel").await;
    assert!(app.gql(Some(&key), "{ me { id } }", json!({})).await["errors"].is_null(), "Cancel keeps everything");

    page.click("#account-menu summary").await;
    page.click("#delete-data").await;
    page.type_into("dialog[open] #confirm-input", "delete").await;
    page.click_button("dialog[open]", "Delete everything").await;
    let said = page
        .wait_for(
            "the sign-in page",
            "!document.getElementById('signin').hidden && document.getElementById('signin-error').textContent",
        )
        .await;
    assert_eq!(said, "Everything stored about you was deleted.");
    let after = app.gql(Some(&key), "{ me { id } }", json!({})).await;
    assert_eq!(crate::helpers::error_code(&after), "UNAUTHENTICATED", "the key stopped working");
    assert_eq!(page.js("return sessionStorage.length + localStorage.length").await, 0, "the page forgot the key");
    page.close().await;
}

#[tokio::test]
async fn pages_are_served_from_the_binary_with_a_policy_that_keeps_them_to_this_server() {
    let app = spawn().await;
    let client = app.client();
    for path in ["/", "/graphql"] {
        // As a browser asks (GET /graphql without text/html is a GraphQL request).
        let response = client.get(format!("{}{path}", app.address)).header("accept", "text/html").send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
        for directive in ["default-src 'none'", "script-src 'self';", "connect-src 'self';", "frame-ancestors 'none'"] {
            assert!(policy.contains(directive), "{path}: {directive} missing from {policy}");
        }
        assert!(!policy.contains("http"), "{path}: no other origin is allowed: {policy}");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let html = response.text().await.unwrap();
        assert!(!html.contains("https://") && !html.contains("//unpkg"), "{path} loads nothing from elsewhere");
    }
    let asset = format!("{}/assets/vendor/graphiql.min.js", app.address);
    let response = client.get(&asset).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/javascript; charset=utf-8");
    let etag = response.headers()["etag"].clone();
    let again = client.get(&asset).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(again.status(), 304, "an unchanged file is not sent again");
    for missing in ["/assets/nope.js", "/assets/index.html", "/assets/../Cargo.toml", "/assets/%2e%2e/Cargo.toml"] {
        let response = client.get(format!("{}{missing}", app.address)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
}

/// GraphiQL's editors are CodeMirror 5 instances; the test sets and reads them directly.
const SET_QUERY: &str =
    "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(arguments[0]); return null";

impl Page {
    /// Puts an operation in GraphiQL's editor and runs it.
    async fn run_in_graphiql(&self, operation: &str) {
        self.js_with(SET_QUERY, vec![json!(operation)]).await;
        // GraphiQL re-reads which operation the editor holds 100 ms (debounced) after an edit;
        // running before that would name the previous one.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.click(".graphiql-execute-button").await;
    }
}
const RESULT: &str = "document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror.getValue() || ''";

#[tokio::test]
async fn graphiql_works_offline_introspects_runs_a_query_and_streams_a_chat() {
    let app = spawn().await;
    let Some(page) = Page::open(&app, DESKTOP).await else { return };
    let (_, key) = app.create_user("Ada").await;
    let conversation = app
        .data(&key, "mutation { createConversation(input: {title: \"GraphiQL\"}) { id } }", json!({}))
        .await["createConversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    page.goto("/graphql").await;
    page.wait_for("GraphiQL", "document.querySelector('.graphiql-container .graphiql-query-editor .CodeMirror')").await;
    page.type_into("#api-key", &key).await;
    page.click("#key-form button[type=submit]").await;
    page.wait_for("the key in use", "document.getElementById('key-status').textContent.includes('this tab only')")
        .await;
    page.js(RECORD_VIOLATIONS).await;

    // Introspection: the documentation explorer lists the schema's root types.
    page.click(".graphiql-sidebar button[aria-label='Show Documentation Explorer']").await;
    page.wait_for(
        "the schema's documentation",
        "document.querySelector('.graphiql-doc-explorer')?.textContent.includes('QueryRoot')",
    )
    .await;

    page.run_in_graphiql("query { me { displayName } serverInfo { database } }").await;
    let result =
        page.wait_for("the query's result", &format!("({RESULT}).includes('displayName') && ({RESULT})")).await;
    let result: Value = serde_json::from_str(result.as_str().unwrap()).unwrap();
    assert_eq!(result["data"]["me"]["displayName"], "Ada");

    // A chat subscription streams into the result pane over the WebSocket.
    app.anthropic.push_stream(slow(&["One, ", "two, ", "three, ", "four."], Duration::from_millis(300)));
    let subscription = format!(
        "subscription {{ chat(input: {{conversationId: \"{conversation}\", message: \"Count to four\"}}) {{
           __typename ... on ChatDelta {{ text }} ... on ChatCompleted {{ message {{ content status }} }} }} }}"
    );
    page.run_in_graphiql(&subscription).await;
    let mut deltas = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    let last = loop {
        let shown = page.js(&format!("return {RESULT}")).await.as_str().unwrap_or_default().to_owned();
        if let Ok(value) = serde_json::from_str::<Value>(&shown) {
            let event = &value["data"]["chat"];
            if event["__typename"] == "ChatDelta" && deltas.last() != Some(&event["text"]) {
                deltas.push(event["text"].clone());
            }
            if event["__typename"] == "ChatCompleted" {
                break event.clone();
            }
        }
        assert!(Instant::now() < deadline, "the subscription never completed; last shown: {shown}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    assert!(deltas.len() >= 2, "the result pane showed the answer as it streamed: {deltas:?}");
    assert_eq!(last["message"], json!({ "content": "One, two, three, four.", "status": "COMPLETE" }));

    // Everything the page loaded came from this server; the key was not written to disk.
    let loaded = page.js("return performance.getEntriesByType('resource').map(e => e.name)").await;
    let loaded: Vec<String> = serde_json::from_value(loaded).unwrap();
    assert!(loaded.iter().any(|url| url.ends_with("/assets/vendor/graphiql.min.js")), "{loaded:?}");
    for url in &loaded {
        assert!(
            url.starts_with(&format!("{}/", app.address)) || url.starts_with("ws://127.0.0.1"),
            "loaded from elsewhere: {url}"
        );
    }
    assert_eq!(page.js("return window.__violations").await, json!([]), "the policy blocked nothing GraphiQL needs");
    let stored = page.js("return JSON.stringify(localStorage)").await;
    assert!(!stored.as_str().unwrap().contains(&key), "the key is not kept in localStorage unless asked");
    page.close().await;
}

/// The screenshots in the README (and a look at both pages at desktop and phone width, light and
/// dark), taken from a conversation with Markdown, memories, preferences and a learned style.
#[tokio::test]
async fn screenshots_of_both_pages_at_desktop_and_phone_width() {
    let app = spawn().await;
    let Some(page) = Page::open(&app, DESKTOP).await else { return };
    let (_, key) = app.create_user("Ada").await;
    for (content, category, importance) in [
        ("Lives in Lisbon with her partner Sam", "FACT", 0.8),
        ("Is vegetarian", "PREFERENCE", 0.9),
        ("Is training for the Lisbon half marathon in March", "GOAL", 0.7),
        ("Her sister Inês lives in Porto", "RELATIONSHIP", 0.6),
    ] {
        app.data(
            &key,
            "mutation($c: String!, $k: MemoryCategory!, $i: Float!) { remember(input: {content: $c, category: $k, importance: $i}) { id } }",
            json!({ "c": content, "k": category, "i": importance }),
        )
        .await;
    }
    app.data(&key, "mutation { setPreference(input: {key: \"units\", value: \"metric\"}) { key } }", json!({})).await;
    let id = app
        .data(&key, "mutation { createConversation(input: {title: \"Dinner before the long run\"}) { id } }", json!({}))
        .await["createConversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = "Since you're vegetarian and running 18 km on Saturday, go for something **carb-rich but easy to digest**:\n\n\
        1. **Mushroom risotto**: arborio rice, mushrooms, a little parmesan. About 40 minutes.\n\
        2. **Pasta with tomato and lentil sauce**: lentils add protein without weighing you down.\n\
        3. **Sweet potato and chickpea curry** with rice, mild on the spices the night before.\n\n\
        Keep fibre and fat moderate, and drink a glass of water with dinner. Good luck on the long run!";
    app.anthropic.push_stream(Reply::Stream(StreamReply::text(answer)));
    app.data(
        &key,
        "mutation($id: ID!) { sendMessage(input: {conversationId: $id, message: \"What should I cook tonight? Long run tomorrow.\"}) { message { id } } }",
        json!({ "id": id }),
    )
    .await;
    app.anthropic.push_stream(slow(
        &["Sam ", "could ", "make ", "the ", "risotto ", "while ", "you ", "stretch"],
        Duration::from_millis(400),
    ));

    page.sign_in(&key, &format!("/#c={id}")).await;
    page.wait_for("the conversation", "document.querySelector('#messages .from-assistant ol')").await;
    page.click("#open-knowledge").await;
    page.wait_for("the memories", "document.querySelectorAll('#panel-memories .memory').length === 4").await;
    page.say("And something Sam can cook while I stretch?").await;
    page.wait_for(
        "a streaming answer",
        "[...document.querySelectorAll('#messages .from-assistant')].at(-1)?.textContent.includes('make')",
    )
    .await;
    page.screenshot("chat-desktop").await;
    page.wait_for(
        "the answer to complete",
        "[...document.querySelectorAll('#messages .from-assistant')].at(-1)?.dataset.status === 'COMPLETE'",
    )
    .await;

    // "Why this answer": what the turn recorded it used, and the next prompt.
    page.click("#messages .from-assistant .why").await;
    let why = page
        .wait_for(
            "the explanation",
            "document.querySelector('.why-dialog .prompt') && document.querySelector('.why-dialog').textContent",
        )
        .await;
    let why = why.as_str().unwrap();
    assert!(why.contains("Memories it used") && why.contains("Is vegetarian"), "{why}");
    assert!(why.contains("Units: metric"), "the preference it used: {why}");
    page.screenshot("chat-why").await;
    page.click(".why-dialog .dialog-head button").await;

    page.click("#tab-style").await;
    page.click("#messages .from-assistant .rate-down").await;
    page.click_button(".rate-form", "Too long").await;
    page.wait_for("the learned style", "document.querySelector('#panel-style .instruction')").await;
    page.screenshot("chat-desktop-style").await;

    page.click("#tab-preferences").await;
    page.wait_for("the preferences", "document.querySelector('#panel-preferences .preference')").await;
    page.screenshot("chat-desktop-preferences").await;
    page.click("#tab-interests").await;
    page.wait_for("the interests", "document.querySelector('#panel-interests .panel-note')").await;
    page.screenshot("chat-desktop-interests").await;

    page.js("document.documentElement.dataset.theme = 'dark'; return null").await;
    page.click("#tab-memories").await;
    page.screenshot("chat-desktop-dark").await;
    page.js("delete document.documentElement.dataset.theme; return null").await;
    page.click("#knowledge .knowledge-head button").await;

    page.resize(PHONE).await;
    page.wait_for("the phone layout", "getComputedStyle(document.getElementById('toggle-sidebar')).display !== 'none'")
        .await;
    page.screenshot("chat-phone").await;
    page.click("#open-knowledge").await;
    page.screenshot("chat-phone-memories").await;
    page.click("#knowledge .knowledge-head button").await;
    page.click("#toggle-sidebar").await;
    page.wait_for(
        "the drawer to slide in",
        "getComputedStyle(document.getElementById('sidebar')).transform === 'none'",
    )
    .await;
    page.screenshot("chat-phone-conversations").await;

    page.goto("/graphql").await;
    page.wait_for("GraphiQL", "document.querySelector('.graphiql-container .graphiql-query-editor .CodeMirror')").await;
    page.screenshot("graphiql-phone").await;
    page.resize(DESKTOP).await;
    page.click("#key-form button[type=submit]").await;
    page.click(".graphiql-execute-button").await;
    page.wait_for("the query's result", &format!("({RESULT}).includes('displayName')")).await;
    let shot = page.screenshot("graphiql-desktop").await;

    page.js("sessionStorage.clear(); return null").await;
    page.goto("/").await;
    page.wait_for("the sign-in form", "!document.getElementById('signin').hidden").await;
    page.screenshot("signin-desktop").await;
    eprintln!("screenshots in {}", shot.parent().unwrap().display());
    page.close().await;
}
