/* Lianban pages: calls to the JSON APIs with the session cookie and the page's CSRF token. Our own code. */
"use strict";
var Lianban = (function () {
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* Resolves to {status, body}; body is the parsed JSON (problem+json on errors) or null. */
  function api(method, url, body) {
    var options = {method: method, credentials: "same-origin",
                   headers: {"Accept": "application/json", "X-CSRF-Token": csrf()}};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        return {status: response.status, body: parsed};
      });
    }, function () {
      return {status: 0, body: {message_zh: "无法连接服务器，请检查网络后重试"}};
    });
  }

  function problemText(result) {
    var body = result.body || {};
    return body.message_zh || body.detail || ("请求失败（HTTP " + result.status + "）");
  }

  function notify(text, kind) {
    var notice = document.getElementById("notice");
    notice.textContent = text;
    notice.className = "notice " + (kind || "error");
    notice.hidden = false;
  }

  return {api: api, problemText: problemText, notify: notify};
})();
