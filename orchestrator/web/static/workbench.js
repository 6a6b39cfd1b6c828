/* 工作台: 领取 (claim) a task of the department queue, then show it under 我的待办. */
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.claim");
  if (!button) { return; }
  button.disabled = true;
  button.textContent = "领取中…";
  Lianban.api("POST", "/api/tasks/" + encodeURIComponent(button.dataset.taskId) + "/claim", {})
    .then(function (result) {
      if (result.status === 200) {
        window.location.reload();
        return;
      }
      Lianban.notify(result.status === 409 ? "该任务已被他人领取：" + Lianban.problemText(result)
                                           : "领取失败：" + Lianban.problemText(result));
      button.disabled = false;
      button.textContent = "领取";
    });
});

/* 撤回 a step of 我的已办 (the API refuses once the next step is claimed or done: its message is shown). */
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.retract");
  if (!button) { return; }
  var row = button.closest("tr"), slot = row.querySelector(".op-error");
  var reason = row.querySelector("input.retract-reason").value.trim();
  button.disabled = true;
  slot.textContent = "";
  Lianban.api("POST", "/api/tasks/" + encodeURIComponent(button.dataset.taskId) + "/retract", {reason: reason})
    .then(function (result) {
      button.disabled = false;
      if (result.status === 200) {
        window.location.assign("/?done=" + encodeURIComponent("已撤回"));
        return;
      }
      slot.textContent = Lianban.problemText(result);
    });
});

/* Opening a copy's case record marks the copy read (POST /api/cc/{id}/read) first. */
document.addEventListener("click", function (event) {
  var link = event.target.closest("a.copy-link[data-unread]");
  if (!link) { return; }
  event.preventDefault();
  var id = link.closest("tr").dataset.copyId;
  Lianban.api("POST", "/api/cc/" + encodeURIComponent(id) + "/read", {}).then(function () {
    window.location.assign(link.getAttribute("href"));
  });
});

/* After a submission or an approval operation the task page comes back here with ?submitted=<task name> or
   ?done=<what was done>. */
(function () {
  var query = new URLSearchParams(window.location.search);
  var submitted = query.get("submitted"), done = query.get("done");
  if (submitted !== null) {
    Lianban.notify("已提交" + (submitted ? "：" + submitted : ""), "ok");
  } else if (done) {
    Lianban.notify(done, "ok");
  } else {
    return;
  }
  query.delete("submitted");
  query.delete("done");
  window.history.replaceState(null, "", "/" + (query.toString() ? "?" + query.toString() : ""));
})();
