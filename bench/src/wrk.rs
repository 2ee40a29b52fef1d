//! A wrk Lua script that walks through prepared shoppers: each request is a different shopper
//! with a fresh purchase pass, so every one goes through all the checks of the pipeline.
//!
//! wrk shares the 2 cores with the server, so the script must cost next to nothing per request:
//! the requests are written out whole, padded to one width, into a file beside the script, which
//! each thread reads in one go and slices (parsing 500,000 lines in Lua took 2 s of CPU per thread,
//! and formatting each request plus a `response` callback made wrk use most of the machine).
//! The answers are counted by the server's `/metrics`, not by the script.

use crate::setup::Shopper;

/// Every shopper's purchase as raw HTTP/1.1, each padded (in an `X-Pad` header) to the same
/// length; returns the bytes and that length.
pub fn requests(
    host: &str,
    product: i64,
    shoppers: &[Shopper],
    passes: &[String],
) -> (Vec<u8>, usize) {
    let bare: Vec<(String, String)> = shoppers
        .iter()
        .zip(passes)
        .map(|(s, pass)| {
            let body = format!("{{\"pass\":\"{pass}\"}}");
            let head = format!(
                "POST /api/v1/products/{product}/purchase HTTP/1.1\r\nHost: {host}\r\n\
                 Cookie: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Pad: ",
                s.cookie,
                body.len()
            );
            (head, body)
        })
        .collect();
    // "x" at least once, then "\r\n\r\n" and the body.
    let width = bare
        .iter()
        .map(|(h, b)| h.len() + 1 + 4 + b.len())
        .max()
        .unwrap_or(0);
    let mut out = Vec::with_capacity(width * bare.len());
    for (head, body) in &bare {
        let pad = width - head.len() - 4 - body.len();
        out.extend_from_slice(head.as_bytes());
        out.extend(std::iter::repeat_n(b'x', pad));
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body.as_bytes());
    }
    (out, width)
}

pub fn script(requests_path: &str, width: usize) -> String {
    format!(
        r#"local width, data, n = {width}, nil, 0
local threads, counter, stride = {{}}, 0, 1
function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end
-- Thread k of n sends shoppers k, k+n, k+2n, ...: no shopper twice until all have been used.
function init(args)
  stride = tonumber(args[1] or "2")
  counter = offset
end
function request()
  if not data then
    local f = assert(io.open("{requests_path}", "rb"))
    data = f:read("*a")
    f:close()
    n = #data / width
  end
  local i = counter % n
  counter = counter + stride
  return data:sub(i * width + 1, (i + 1) * width)
end
"#
    )
}
