/* 审批操作 on the task page: 退回 (with a preview when the target is before the parallel split), 转办, 委派,
   办结归还 and 抄送, each through its JSON API; the API's Chinese message is shown next to the action. */
"use strict";
(function () {
  var panel = document.getElementById("approval"), decideBox = document.getElementById("decide");
  if (!panel && !decideBox) { return; }
  var taskId = document.getElementById("task-page").dataset.taskId;
  var taskUrl = "/api/tasks/" + encodeURIComponent(taskId);
  var targets = {};

  function value(id) {
    var node = document.getElementById(id);
    return node ? node.value.trim() : "";
  }

  function showError(op, text) { document.getElementById(op + "-error").textContent = text || ""; }

  function done(text) { window.location.assign("/?done=" + encodeURIComponent(text)); }

  function item(text) {
    var node = document.createElement("li");
    node.textContent = text;
    return node;
  }

  function loadTargets() {
    var select = document.getElementById("send-back-target");
    if (!select) { return; }
    Lianban.api("GET", taskUrl + "/send-back-targets").then(function (result) {
      select.textContent = "";
      if (result.status !== 200) { showError("send-back", Lianban.problemText(result)); return; }
      var list = result.body || [];
      var first = document.createElement("option");
      first.value = "";
      first.textContent = list.length ? "（请选择环节）" : "（没有可退回的环节）";
      select.appendChild(first);
      list.forEach(function (target) {
        targets[target.activity_id] = target;
        var option = document.createElement("option");
        option.value = target.activity_id;
        option.textContent = (target.name || target.activity_id) +
          (target.completed_by ? "（" + target.completed_by + " 办理）" : "") + (target.across_split ? " · 并联审批之前" : "");
        select.appendChild(option);
      });
    });
  }

  function preview() {
    var box = document.getElementById("send-back-preview"), target = targets[value("send-back-target")];
    var list = box.querySelector("ul");
    document.getElementById("send-back-confirm").checked = false;
    list.textContent = "";
    box.hidden = true;
    showError("send-back", "");
    if (!target || !target.across_split) { return; }
    Lianban.api("POST", taskUrl + "/send-back/preview", {target: target.activity_id}).then(function (result) {
      if (result.status !== 200) { showError("send-back", Lianban.problemText(result)); return; }
      var undone = result.body;
      undone.open_user_tasks.forEach(function (t) { list.appendChild(item("办理中：" + (t.name || t.activity_id))); });
      undone.completed_user_tasks.forEach(function (t) { list.appendChild(item("已办理：" + (t.name || t.activity_id))); });
      undone.waiting.forEach(function (t) { list.appendChild(item("等待中：" + (t.name || t.activity_id))); });
      box.hidden = false;
    });
  }

  function sendBack() {
    var target = targets[value("send-back-target")];
    if (!target) { return Promise.resolve({status: 400, body: {message_zh: "请选择退回到哪个环节"}}); }
    if (target.across_split && !document.getElementById("send-back-confirm").checked) {
      return Promise.resolve({status: 400, body: {message_zh: "退回到并联审批之前会撤销上述办理，请先勾选确认"}});
    }
    return Lianban.api("POST", taskUrl + "/send-back", {target: target.activity_id, reason: value("send-back-reason"),
                                                        across_split: target.across_split});
  }

  function copy() {
    var recipients = value("copy-users").split(/[,，、\s]+/).filter(Boolean).map(function (name) {
      return {kind: "user", id: name};
    });
    if (value("copy-department")) { recipients.push({kind: "group", id: value("copy-department")}); }
    return Lianban.api("POST", "/api/cases/" + encodeURIComponent(panel.dataset.instanceId) + "/cc",
                       {recipients: recipients, note: value("copy-note") || null});
  }

  var operations = {
    "send-back": {call: sendBack, after: "已退回"},
    transfer: {call: function () {
      return Lianban.api("POST", taskUrl + "/transfer", {to: value("transfer-to"), reason: value("transfer-reason")});
    }, after: "已转办"},
    delegate: {call: function () {
      return Lianban.api("POST", taskUrl + "/delegate", {userId: value("delegate-to") || null,
                                                         reason: value("delegate-reason") || null});
    }, after: "已委派"},
    resolve: {call: function () {
      return Lianban.api("POST", taskUrl + "/resolve", {reason: value("resolve-reason") || null});
    }, after: "已办结归还"},
    copy: {call: copy, after: null},
    decide: {call: function () {
      return Lianban.api("POST", taskUrl + "/decide", {decision: value("decide-decision"), opinion: value("decide-opinion")});
    }, after: "已办结：" + (document.getElementById("task-page").dataset.taskName || "")}
  };

  function act(event) {
    var button = event.target.closest("button[data-op]");
    if (!button) { return; }
    var op = button.dataset.op, operation = operations[op];
    showError(op, "");
    button.disabled = true;
    operation.call().then(function (result) {
      button.disabled = false;
      if (result.status !== 200) { showError(op, Lianban.problemText(result)); return; }
      if (operation.after) { done(operation.after); return; }
      document.getElementById("copy-ok").textContent = "已抄送 " + (result.body || []).length + " 个对象";
    });
  }
  [panel, decideBox].forEach(function (box) { if (box) { box.addEventListener("click", act); } });
  var phrase = document.getElementById("decide-phrase");
  if (phrase) {
    phrase.addEventListener("change", function () {
      if (phrase.value) { document.getElementById("decide-opinion").value = phrase.value; }
    });
  }
  var select = document.getElementById("send-back-target");
  if (select) { select.addEventListener("change", preview); }
  loadTargets();
})();
