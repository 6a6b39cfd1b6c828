// A department system's worker built on the official camunda-external-task-client-js, unchanged.
// Usage: node external_task_worker.mjs <engine-rest base URL> <topic>
// The handler reads the case variable `mode`: complete with a result, extend the lock first, report a BPMN
// error the diagram catches, fail once and succeed on the retry, or fail until the retries run out.
import { BasicAuthInterceptor, Client, Variables } from "camunda-external-task-client-js";

const [baseUrl, topic] = process.argv.slice(2);
const client = new Client({
  baseUrl,
  workerId: "js-department-worker",
  maxTasks: 2,
  lockDuration: 10000,
  asyncResponseTimeout: 1000,
  interval: 200,
  // A department system signs in as Camunda 7 clients do: HTTP Basic, as a demo reviewer account.
  interceptors: new BasicAuthInterceptor({ username: "reviewer", password: "lianban-demo" }),
});

const say = (event) => (...args) => console.log(event, ...args.map((a) => (a instanceof Error ? a.message : a)));
for (const event of ["subscribe", "poll:success", "poll:error", "complete:success", "complete:error",
  "handleFailure:success", "handleFailure:error", "handleBpmnError:success", "handleBpmnError:error",
  "extendLock:success", "extendLock:error"]) {
  client.on(event, say(event));
}

client.subscribe(topic, async ({ task, taskService }) => {
  const mode = task.variables.get("mode");
  const result = new Variables();
  if (mode === "complete") {
    result.set("licence_no", `JY-${task.variables.get("applicant")}`);
    result.set("done_by", "js-client");
    result.setTyped("issued_count", { value: 1, type: "Integer" });
    await taskService.complete(task, result);
  } else if (mode === "extend") {
    await taskService.extendLock(task, 60000);
    result.set("extended", true);
    await taskService.complete(task, result);
  } else if (mode === "error") {
    result.set("refusal_reason", "材料不全");
    await taskService.handleBpmnError(task, "DEMO_ERROR", "部门系统拒绝：材料不全", result);
  } else if (mode === "flaky" && task.retries == null) {
    await taskService.handleFailure(task, { errorMessage: "部门系统暂时不可用", errorDetails: "HTTP 503",
      retries: 2, retryTimeout: 200 });
  } else if (mode === "flaky") {
    result.setTyped("recovered_after_retries", { value: task.retries, type: "Integer" });
    await taskService.complete(task, result);
  } else {
    const retries = task.retries == null ? 2 : task.retries - 1;
    await taskService.handleFailure(task, { errorMessage: "部门系统故障", errorDetails: "HTTP 500 from department",
      retries, retryTimeout: 200 });
  }
});
