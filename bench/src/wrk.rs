//! A wrk Lua script that walks through prepared shoppers: each request is a different shopper
//! with a fresh purchase pass, so every one goes through all the checks of the pipeline. The
//! shoppers go to a file beside the script, one "cookie pass" line each (LuaJIT refuses a
//! table literal of more than 65,536 constants).

use crate::setup::Shopper;

/// The shoppers that got a pass, one `cookie pass` line each.
pub fn creds(shoppers: &[Shopper], passes: &[Option<String>]) -> String {
    let mut lines = String::new();
    for (s, p) in shoppers.iter().zip(passes) {
        if let Some(pass) = p {
            lines.push_str(&format!("{} {}\n", s.cookie, pass));
        }
    }
    lines
}

pub fn script(product: i64, creds_path: &str) -> String {
    format!(
        r#"local path = "/api/v1/products/{product}/purchase"
local creds = {{}}
for line in io.lines("{creds_path}") do
  local cookie, pass = line:match("^(%S+) (%S+)$")
  if cookie then
    creds[#creds + 1] = {{cookie, pass}}
  end
end
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
  local c = creds[(counter % #creds) + 1]
  counter = counter + stride
  return wrk.format("POST", path, {{["Cookie"] = c[1], ["Content-Type"] = "application/json"}}, '{{"pass":"' .. c[2] .. '"}}')
end
-- Counts the answers by status, so that the report can tell which path was measured.
counts = {{}}
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {{}}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do
      total[status] = (total[status] or 0) + n
    end
  end
  for status, n in pairs(total) do
    io.write(string.format("status %d %d\n", status, n))
  end
  io.write(string.format("shoppers %d\n", #creds))
end
"#
    )
}
