//! A small cookie-keeping HTTP client that follows the pupil pages the way a
//! browser without JavaScript would: forms, redirects, cookies.

use reqwest::{header, Client, StatusCode};

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of the first input named `name`.
    pub fn input(&self, name: &str) -> Option<String> {
        self.inputs(name).into_iter().next()
    }

    /// Values of every input named `name`, in page order.
    pub fn inputs(&self, name: &str) -> Vec<String> {
        let needle = format!("name=\"{name}\"");
        self.body
            .match_indices(&needle)
            .filter_map(|(at, _)| {
                let rest = &self.body[at..];
                let end = rest.find('>')?;
                let tag = &rest[..end];
                let v = tag.split("value=\"").nth(1)?;
                Some(unescape(&v[..v.find('"')?]))
            })
            .collect()
    }

    /// Every hidden input of the first form whose action is `action`.
    pub fn hidden(&self, action: &str) -> Vec<(String, String)> {
        let start = self
            .body
            .find(&format!("action=\"{action}\""))
            .expect("form on page");
        let form = &self.body[start..start + self.body[start..].find("</form>").unwrap()];
        form.match_indices("type=\"hidden\"")
            .filter_map(|(at, _)| {
                let tag = &form[at..at + form[at..].find('>')?];
                let name = tag.split("name=\"").nth(1)?;
                let value = tag.split("value=\"").nth(1)?;
                Some((
                    name[..name.find('"')?].to_owned(),
                    unescape(&value[..value.find('"')?]),
                ))
            })
            .collect()
    }

    pub fn has(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub struct Browser {
    http: Client,
    pub base: String,
    jar: Vec<(String, String)>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            jar: Vec::new(),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.jar.retain(|(k, _)| k != name);
        self.jar.push((name.into(), value.into()));
    }

    fn url(&self, to: &str) -> String {
        if to.starts_with("http") {
            to.to_owned()
        } else {
            format!("{}{to}", self.base)
        }
    }

    async fn read(&mut self, res: reqwest::Response) -> Page {
        for v in res.headers().get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            self.jar.retain(|(n, _)| n != k);
            if !v.contains("Max-Age=0") {
                self.jar.push((k.into(), val.into()));
            }
        }
        Page {
            status: res.status(),
            location: res
                .headers()
                .get(header::LOCATION)
                .map(|l| l.to_str().unwrap().to_owned()),
            headers: res.headers().clone(),
            body: res.text().await.unwrap(),
        }
    }

    fn cookies(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, to: &str) -> Page {
        let res = self
            .http
            .get(self.url(to))
            .header(header::COOKIE, self.cookies())
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    pub async fn post(&mut self, to: &str, fields: &[(String, String)]) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.post_raw(to, "application/x-www-form-urlencoded", body)
            .await
    }

    pub async fn post_raw(&mut self, to: &str, content_type: &str, body: String) -> Page {
        self.post_bytes(to, content_type, body.into_bytes()).await
    }

    /// A body of any bytes (a multipart form with a file).
    pub async fn post_bytes(&mut self, to: &str, content_type: &str, body: Vec<u8>) -> Page {
        let res = self
            .http
            .post(self.url(to))
            .header(header::COOKIE, self.cookies())
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    /// A download's bytes (the answer must be 200).
    pub async fn get_bytes(&mut self, to: &str) -> Vec<u8> {
        let res = self
            .http
            .get(self.url(to))
            .header(header::COOKIE, self.cookies())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.bytes().await.unwrap().to_vec()
    }

    /// Follows redirects from `page` until a page that is not one.
    pub async fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..10 {
            match (page.status.is_redirection(), page.location.clone()) {
                (true, Some(to)) => page = self.get(&to).await,
                _ => return page,
            }
        }
        panic!("too many redirects");
    }

    /// Logs in through the development provider as `pid` at `acr`; returns the page
    /// the callback answered with (not followed).
    pub async fn dev_login(&mut self, pid: &str, acr: &str) -> Page {
        self.dev_login_to("/auth/login", pid, acr).await
    }

    /// The same, starting at `login` (e.g. `/console/login`).
    pub async fn dev_login_to(&mut self, login: &str, pid: &str, acr: &str) -> Page {
        let start = self.get(login).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
        let form = self.get(start.location.as_deref().unwrap()).await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let mut fields = form.hidden("/dev-login/authorize");
        fields.push(("pid".into(), pid.into()));
        fields.push(("acr".into(), acr.into()));
        let back = self.post("/dev-login/authorize", &fields).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        self.get(back.location.as_deref().unwrap()).await
    }
}

/// Fields with one name repeated, as a form with checkboxes sends them.
pub fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
