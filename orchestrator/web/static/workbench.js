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

/* After a submission the task page comes back here with ?submitted=<task name>. */
(function () {
  var submitted = new URLSearchParams(window.location.search).get("submitted");
  if (submitted !== null) {
    Lianban.notify("已提交" + (submitted ? "：" + submitted : ""), "ok");
    window.history.replaceState(null, "", "/");
  }
})();
