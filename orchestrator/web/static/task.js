/* 办理任务: render the task's form-js form as plain HTML inputs, 保存草稿 and 提交 through the JSON APIs.
   Field types: textfield, textarea, number, select, radio, checkbox, checklist, datetime (date, time,
   datetime); `text` components as headings and paragraphs. Conditions (`conditional.hide`) with feel.js. */
"use strict";
(function () {
  var page = document.getElementById("task-page");
  var taskId = page.dataset.taskId;
  var formElement = document.getElementById("task-form");
  var components = [];
  var caseData = {};

  function el(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  var named = JSON.parse(document.getElementById("field-labels").textContent || "{}");
  var labels = named.fields || {}, optionLabels = named.options || {};
  var shanghai = new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
                                                  day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false});

  function display(value) {
    if (value === null || value === undefined || value === "") { return "—"; }
    if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value)) {
      return shanghai.format(new Date(value)).replace(/\//g, "-");  // a moment, shown in Asia/Shanghai
    }
    if (value === true) { return "是"; }
    if (value === false) { return "否"; }
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function renderCaseData(data) {
    var body = document.querySelector("#case-data tbody");
    var keys = Object.keys(data).sort();
    body.textContent = "";
    keys.forEach(function (key) {
      var row = el("tr");
      var name = el("th", {scope: "row"}, labels[key] || key);
      if (labels[key]) { name.appendChild(el("small", {"class": "key"}, key)); }
      row.appendChild(name);
      var known = optionLabels[key] && optionLabels[key][String(data[key])];
      row.appendChild(el("td", {}, known || display(data[key])));
      body.appendChild(row);
    });
    if (!keys.length) { body.appendChild(el("tr", {}, "")).appendChild(el("td", {colspan: "2"}, "暂无办件数据")); }
  }

  function renderText(component) {
    var box = el("div", {"class": "form-text"});
    String(component.text || "").split(/\n+/).forEach(function (line) {
      var heading = /^#+\s*(.*)$/.exec(line);
      if (heading) { box.appendChild(el("h3", {}, heading[1])); }
      else if (line.trim()) { box.appendChild(el("p", {}, line)); }
    });
    return box;
  }

  function options(component) {
    var values = component.values;
    if (!values && component.valuesKey) { values = caseData[component.valuesKey] || []; }
    return (values || []).map(function (item) {
      return item && typeof item === "object" ? {label: item.label || String(item.value), value: item.value}
                                              : {label: String(item), value: item};
    });
  }

  function fieldId(component) { return "field-" + component.key; }

  function dateParts(value) {
    if (typeof value !== "string") { return ""; }
    var local = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(value);
    return local ? local[1] + "T" + local[2] : value;
  }

  function control(component, value) {
    var type = component.type, id = fieldId(component), input, group;
    if (type === "textarea") {
      input = el("textarea", {id: id, name: component.key, rows: "4"});
      input.value = value === undefined || value === null ? "" : String(value);
    } else if (type === "select") {
      input = el("select", {id: id, name: component.key});
      input.appendChild(el("option", {value: ""}, "（请选择）"));
      options(component).forEach(function (option, index) {
        var item = el("option", {value: String(index)}, option.label);
        if (value !== undefined && option.value === value) { item.selected = true; }
        input.appendChild(item);
      });
    } else if (type === "radio" || type === "checklist" || type === "taglist") {
      group = el("div", {"class": "choices", role: type === "radio" ? "radiogroup" : "group",
                         "aria-labelledby": id + "-label", id: id});
      options(component).forEach(function (option, index) {
        var label = el("label"), box = el("input", {type: type === "radio" ? "radio" : "checkbox",
                                                     name: component.key, value: String(index)});
        box.checked = type === "radio" ? option.value === value
                                       : Array.isArray(value) && value.indexOf(option.value) >= 0;
        label.appendChild(box);
        label.appendChild(document.createTextNode(option.label));
        group.appendChild(label);
      });
      return group;
    } else if (type === "checkbox") {
      input = el("input", {id: id, name: component.key, type: "checkbox"});
      input.checked = value === true;
    } else if (type === "datetime") {
      var subtype = component.subtype || "datetime";
      input = el("input", {id: id, name: component.key,
                           type: subtype === "date" ? "date" : subtype === "time" ? "time" : "datetime-local"});
      input.value = subtype === "datetime" ? dateParts(value) : (value || "");
    } else {
      input = el("input", {id: id, name: component.key, type: "text"});
      if (type === "number") { input.setAttribute("inputmode", "decimal"); }
      input.value = value === undefined || value === null ? "" : String(value);
    }
    if (component.validate && component.validate.required) { input.setAttribute("aria-required", "true"); }
    return input;
  }

  function label(component) {
    if (component.type === "datetime") { return component.dateLabel || component.timeLabel || component.label || component.key; }
    return component.label || component.key;
  }

  function renderField(component, value) {
    var wrapper = el("div", {"class": "field field-" + component.type, "data-key": component.key});
    var input = control(component, value), caption;
    if (component.type === "checkbox") {
      caption = el("label", {"for": fieldId(component), id: fieldId(component) + "-label"});
      caption.appendChild(input);
      caption.appendChild(document.createTextNode(label(component)));
    } else {
      caption = el(input.tagName === "DIV" ? "span" : "label",
                   {"for": fieldId(component), id: fieldId(component) + "-label", "class": "label"}, label(component));
    }
    wrapper.appendChild(caption);
    if (component.validate && component.validate.required) {  // beside the label (its text stays the field's name)
      wrapper.insertBefore(el("span", {"class": "required", "aria-hidden": "true", title: "必填"}, "*"), caption);
    }
    if (component.type !== "checkbox") { wrapper.appendChild(input); }
    if (component.description) { wrapper.appendChild(el("p", {"class": "hint"}, component.description)); }
    wrapper.appendChild(el("p", {"class": "field-error", id: "error-" + component.key, role: "alert"}));
    return wrapper;
  }

  /* The value form-js would submit for a field, or undefined when it is empty. */
  function readValue(component) {
    var type = component.type, id = fieldId(component), input = document.getElementById(id), raw, list;
    if (type === "checkbox") { return input.checked; }
    if (type === "select") { return input.value === "" ? undefined : options(component)[Number(input.value)].value; }
    if (type === "radio" || type === "checklist" || type === "taglist") {
      list = [];
      input.querySelectorAll("input").forEach(function (box) {
        if (box.checked) { list.push(options(component)[Number(box.value)].value); }
      });
      if (type === "radio") { return list.length ? list[0] : undefined; }
      return list.length ? list : undefined;
    }
    raw = input.value;
    if (raw === "") { return undefined; }
    if (type === "number") {
      var number = Number(raw.trim());
      return raw.trim() !== "" && isFinite(number) ? number : raw;  // the server names a non-number in Chinese
    }
    if (type === "datetime" && (component.subtype || "datetime") === "datetime") {
      return raw.length === 16 ? raw + ":00+08:00" : raw;
    }
    return raw;
  }

  function editable(component) { return component.key && component.type !== "text" && !component.disabled && !component.readonly; }

  /* Show and hide fields as the server will (a hidden field's value leaves the data), and collect the values. */
  function refresh() {
    var data = Object.assign({}, caseData), values = {};
    components.forEach(function (component) {
      if (!component.key) { return; }
      var value = editable(component) ? readValue(component) : undefined;
      if (value !== undefined) { data[component.key] = value; }
    });
    components.forEach(function (component) {
      if (!component.key) { return; }
      var wrapper = formElement.querySelector('[data-key="' + CSS.escape(component.key) + '"]');
      var hidden = !!(component.conditional && component.conditional.hide && Feel.hides(component.conditional.hide, data));
      if (wrapper) { wrapper.hidden = hidden; }
      if (hidden) { delete data[component.key]; return; }
      if (editable(component) && data[component.key] !== undefined) { values[component.key] = data[component.key]; }
    });
    return values;
  }

  function clearErrors() {
    formElement.querySelectorAll(".field-error").forEach(function (node) { node.textContent = ""; });
    formElement.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
  }

  function showErrors(errors) {
    var unplaced = [];
    (errors || []).forEach(function (error) {
      var slot = document.getElementById("error-" + error.field);
      if (!slot || slot.closest(".field").hidden) { unplaced.push(error.message); return; }
      slot.textContent = error.message;
      var input = document.getElementById(fieldId({key: error.field}));
      if (input) { input.setAttribute("aria-invalid", "true"); }
    });
    return unplaced;
  }

  function render(result) {
    caseData = result.data || {};
    components = (result.schema && result.schema.components) || [];
    var saved = (result.draft && result.draft.values) || {};
    renderCaseData(caseData);
    formElement.textContent = "";
    components.forEach(function (component) {
      if (component.type === "text") { formElement.appendChild(renderText(component)); return; }
      if (!component.key) { return; }
      var value = Object.prototype.hasOwnProperty.call(saved, component.key) ? saved[component.key] : caseData[component.key];
      if (value === undefined && component.defaultValue !== undefined) { value = component.defaultValue; }
      formElement.appendChild(renderField(component, value));
    });
    if (result.draft) {
      document.getElementById("draft-state").textContent = "已载入草稿（" + (result.draft.saved_by || "") + " 保存于 " +
        String(result.draft.saved_at || "").replace("T", " ").slice(0, 16) + "）";
    }
    refresh();
    document.getElementById("actions").hidden = false;
  }

  function busy(flag) {
    document.querySelectorAll("#actions button").forEach(function (button) { button.disabled = flag; });
  }

  function saveDraft() {
    clearErrors();
    busy(true);
    Lianban.api("PUT", "/api/tasks/" + encodeURIComponent(taskId) + "/draft", {values: refresh()}).then(function (result) {
      busy(false);
      if (result.status !== 200) { Lianban.notify("草稿保存失败：" + Lianban.problemText(result)); return; }
      var problems = result.body.problems || [];
      showErrors(problems);
      Lianban.notify(problems.length ? "草稿已保存；提交前还需处理 " + problems.length + " 项（见各字段提示）"
                                     : "草稿已保存", "ok");
    });
  }

  function submit(event) {
    event.preventDefault();
    clearErrors();
    busy(true);
    Lianban.api("POST", "/api/tasks/" + encodeURIComponent(taskId) + "/submit", {values: refresh()}).then(function (result) {
      if (result.status === 200) {
        window.location.assign("/?submitted=" + encodeURIComponent(page.dataset.taskName || ""));
        return;
      }
      busy(false);
      var body = result.body || {};
      var unplaced = body.code === "form.validation_failed" ? showErrors(body.errors) : [];
      Lianban.notify(Lianban.problemText(result) + (unplaced.length ? "：" + unplaced.join("；") : ""));
    });
  }

  formElement.addEventListener("input", refresh);
  formElement.addEventListener("change", refresh);
  document.getElementById("save-draft").addEventListener("click", saveDraft);
  document.getElementById("task-form-box").addEventListener("submit", submit);

  Lianban.api("GET", "/api/tasks/" + encodeURIComponent(taskId) + "/form").then(function (result) {
    if (result.status !== 200) {
      document.getElementById("loading").textContent = "无法载入表单：" + Lianban.problemText(result);
      return;
    }
    document.getElementById("loading").hidden = true;
    render(result.body);
  });
})();
