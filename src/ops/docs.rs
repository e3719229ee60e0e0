//! `/api/docs`: a self-contained reader for the OpenAPI document, rendered on the server
//! (no script or style from the internet).

use std::fmt::Write;

use serde_json::Value;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn schema_name(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    if let Some(items) = schema.get("items") {
        return format!("[{}]", schema_name(items));
    }
    if let Some(any) = schema.get("oneOf").and_then(Value::as_array) {
        return any.iter().map(schema_name).collect::<Vec<_>>().join(" | ");
    }
    match schema.get("type") {
        Some(Value::String(t)) => esc(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(esc).collect::<Vec<_>>().join(" | "),
        _ => "object".into(),
    }
}

fn body_schema(content: Option<&Value>) -> String {
    content
        .and_then(Value::as_object)
        .and_then(|c| c.values().next())
        .and_then(|m| m.get("schema"))
        .map(schema_name)
        .unwrap_or_default()
}

pub fn render(doc: &Value) -> String {
    let mut out = String::new();
    let title = doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("API");
    let version = doc.pointer("/info/version").and_then(Value::as_str).unwrap_or("");
    let _ = write!(
        out,
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{t} — API</title><style>body{{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}}\
h2{{border-bottom:1px solid #ddd;padding-bottom:.2em}}.op{{border:1px solid #e3e3e3;border-radius:6px;margin:1em 0;padding:.6em 1em}}\
.m{{display:inline-block;min-width:4.5em;font-weight:700;text-transform:uppercase}}.get{{color:#0a7}}.post{{color:#06c}}.patch,.put{{color:#b70}}.delete{{color:#c33}}\
code{{background:#f5f5f5;padding:0 .2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:.2em .5em;text-align:left}}</style></head><body>\
<h1>{t} <small>{v}</small></h1><p>Machine-readable: <a href=\"/api/openapi.json\">/api/openapi.json</a> (OpenAPI {o}).</p>",
        t = esc(title),
        v = esc(version),
        o = esc(doc.get("openapi").and_then(Value::as_str).unwrap_or("")),
    );
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        let _ = write!(out, "<h2>Endpoints</h2>");
        for (path, item) in paths {
            let Some(ops) = item.as_object() else { continue };
            for (method, op) in ops {
                let summary = op.get("summary").or_else(|| op.get("description")).and_then(Value::as_str).unwrap_or("");
                let _ = write!(
                    out,
                    "<div class=\"op\"><span class=\"m {m}\">{m}</span> <code>{p}</code><p>{s}</p>",
                    m = esc(method),
                    p = esc(path),
                    s = esc(summary)
                );
                if let Some(params) = op.get("parameters").and_then(Value::as_array) {
                    let _ = write!(out, "<table><tr><th>parameter</th><th>in</th><th>type</th></tr>");
                    for p in params {
                        let _ = write!(
                            out,
                            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                            esc(p.get("name").and_then(Value::as_str).unwrap_or("")),
                            esc(p.get("in").and_then(Value::as_str).unwrap_or("")),
                            p.get("schema").map(schema_name).unwrap_or_default()
                        );
                    }
                    let _ = write!(out, "</table>");
                }
                let request = body_schema(op.pointer("/requestBody/content"));
                if !request.is_empty() {
                    let _ = write!(out, "<p>Body: {request}</p>");
                }
                if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                    let _ = write!(out, "<ul>");
                    for (status, r) in responses {
                        let _ = write!(
                            out,
                            "<li><b>{}</b> {} {}</li>",
                            esc(status),
                            esc(r.get("description").and_then(Value::as_str).unwrap_or("")),
                            body_schema(r.get("content"))
                        );
                    }
                    let _ = write!(out, "</ul>");
                }
                let _ = write!(out, "</div>");
            }
        }
    }
    if let Some(schemas) = doc.pointer("/components/schemas").and_then(Value::as_object) {
        let _ = write!(out, "<h2>Schemas</h2>");
        for (name, schema) in schemas {
            let _ = write!(out, "<div class=\"op\" id=\"schema-{n}\"><b>{n}</b>", n = esc(name));
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let _ = write!(out, "<table><tr><th>field</th><th>type</th><th>required</th><th>about</th></tr>");
                for (field, p) in props {
                    let _ = write!(
                        out,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(field),
                        schema_name(p),
                        if required.contains(&field.as_str()) { "yes" } else { "" },
                        esc(p.get("description").and_then(Value::as_str).unwrap_or(""))
                    );
                }
                let _ = write!(out, "</table>");
            } else if let Some(values) = schema.get("enum").and_then(Value::as_array) {
                let values: Vec<String> = values.iter().filter_map(Value::as_str).map(esc).collect();
                let _ = write!(out, " one of <code>{}</code>", values.join("</code>, <code>"));
            }
            let _ = write!(out, "</div>");
        }
    }
    out.push_str("</body></html>");
    out
}
