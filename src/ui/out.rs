//! A command's result on stdout, or, when many repositories run at once, into that
//! repository's part of the grouped output.
use std::cell::RefCell;
use std::future::Future;

tokio::task_local! {
    static CAPTURED: RefCell<String>;
}

/// Writes a command's result: to stdout, or to the capture the command runs under.
pub fn print(text: &str) {
    if CAPTURED
        .try_with(|c| c.borrow_mut().push_str(text))
        .is_err()
    {
        print!("{text}");
    }
}

/// As `print`, ending the line.
pub fn println(text: &str) {
    print(&format!("{text}\n"));
}

/// Runs `command` with its results kept for the caller instead of printed.
pub async fn capture<F: Future>(command: F) -> (F::Output, String) {
    CAPTURED
        .scope(RefCell::new(String::new()), async {
            let output = command.await;
            (output, CAPTURED.with(|c| c.take()))
        })
        .await
}
