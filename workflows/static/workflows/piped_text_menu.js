/* The piped-text menu: a button beside every field marked data-piped-text opens a searchable list
   of the tokens the field accepts; choosing one inserts it at the cursor.

   The menu's groups come from the page (<script id="piped-text-menu" type="application/json">,
   see workflows/piping_menu.py); a field's data-piped-text lists the schemes it accepts.
   Keyboard: Enter or Space on the button opens the menu; type to filter; ArrowDown / ArrowUp
   (Home / End) move through the items; Enter inserts; Escape closes and returns to the field. */
(function () {
  "use strict";

  const BUTTON_CLASS = "piped-text-button";
  let groups = [];
  let menu = null; // the open menu: {root, filter, list, field, button, start, end, options, active}
  let nextId = 0;

  function ready() {
    const data = document.getElementById("piped-text-menu");
    if (!data) return; // the page may not be edited, or carries no menu
    groups = JSON.parse(data.textContent);
    document.querySelectorAll("[data-piped-text]").forEach(addButton);
    // Rows added to inline formsets are copies of the empty form, which already has its button;
    // a row made some other way gets one here.
    document.addEventListener("formset:added", function (event) {
      event.target.querySelectorAll("[data-piped-text]").forEach(addButton);
    });
    document.addEventListener("click", onDocumentClick);
  }

  function addButton(field) {
    const next = field.nextElementSibling;
    if (next && next.classList.contains(BUTTON_CLASS)) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = BUTTON_CLASS;
    button.textContent = "{a}";
    button.title = "Insert piped text";
    button.setAttribute("aria-label", "Insert piped text");
    button.setAttribute("aria-haspopup", "dialog");
    button.setAttribute("aria-expanded", "false");
    field.insertAdjacentElement("afterend", button);
  }

  function onDocumentClick(event) {
    const button = event.target.closest("." + BUTTON_CLASS);
    if (button) {
      event.preventDefault();
      const wasOpenHere = menu && menu.button === button;
      close(false);
      if (!wasOpenHere) open(button);
      return;
    }
    if (menu && !menu.root.contains(event.target)) close(false);
  }

  function open(button) {
    const field = button.previousElementSibling;
    if (!field || !field.hasAttribute("data-piped-text")) return;
    const schemes = (field.getAttribute("data-piped-text") || "").split(/\s+/).filter(Boolean);
    const root = document.createElement("div");
    root.className = "piped-text-menu";
    root.setAttribute("role", "dialog");
    root.setAttribute("aria-label", "Piped text");
    const listId = "piped-text-list-" + nextId++;
    root.innerHTML =
      '<input type="search" class="piped-text-filter" role="combobox" autocomplete="off" ' +
      'aria-autocomplete="list" aria-expanded="true" placeholder="Filter: field, contact, date…">' +
      '<ul class="piped-text-list" role="listbox"></ul>' +
      '<p class="piped-text-keys">↑ ↓ to choose · Enter to insert · Esc to close</p>';
    const filter = root.querySelector("input");
    const list = root.querySelector("ul");
    list.id = listId;
    filter.setAttribute("aria-controls", listId);
    filter.setAttribute("aria-label", "Filter piped text");
    // In the body, not beside the button: form rows and inline tables clip what overflows them.
    document.body.appendChild(root);
    place(root, button);
    menu = {
      root: root, filter: filter, list: list, field: field, button: button,
      start: field.selectionStart ?? field.value.length,
      end: field.selectionEnd ?? field.value.length,
      schemes: schemes, options: [], active: -1,
    };
    button.setAttribute("aria-expanded", "true");
    filter.addEventListener("input", render);
    filter.addEventListener("keydown", onKey);
    list.addEventListener("mousedown", function (event) { event.preventDefault(); }); // keep the filter focused
    list.addEventListener("click", function (event) {
      const option = event.target.closest("[role=option]");
      if (option) choose(option);
    });
    root.addEventListener("focusout", function (event) {
      if (menu && menu.root === root && !root.contains(event.relatedTarget) && event.relatedTarget !== button) {
        close(false);
      }
    });
    render();
    filter.focus();
  }

  function place(root, button) {
    const box = button.getBoundingClientRect();
    const width = root.offsetWidth;
    const left = Math.max(8, Math.min(box.left, document.documentElement.clientWidth - width - 8));
    root.style.left = left + window.scrollX + "px";
    root.style.top = box.bottom + window.scrollY + 4 + "px";
  }

  function matches(words, item, group) {
    const text = (item.label + " " + item.token + " " + item.detail + " " + group.label).toLowerCase();
    return words.every(function (word) { return text.includes(word); });
  }

  function render() {
    const words = menu.filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    menu.list.textContent = "";
    menu.options = [];
    groups.forEach(function (group) {
      if (menu.schemes.indexOf(group.scheme) === -1) return;
      const items = group.items.filter(function (item) { return matches(words, item, group); });
      if (!items.length && (words.length || !group.empty)) return;
      const heading = document.createElement("li");
      heading.className = "piped-text-group";
      heading.setAttribute("role", "presentation");
      heading.textContent = group.label;
      menu.list.appendChild(heading);
      if (!items.length) {
        const empty = document.createElement("li");
        empty.className = "piped-text-empty";
        empty.setAttribute("role", "presentation");
        empty.textContent = group.empty;
        menu.list.appendChild(empty);
      }
      items.forEach(function (item) {
        const option = document.createElement("li");
        option.setAttribute("role", "option");
        option.id = "piped-text-option-" + nextId++;
        option.dataset.token = item.token;
        const label = document.createElement("span");
        label.className = "piped-text-label";
        label.textContent = item.label;
        option.appendChild(label);
        if (item.detail) {
          const detail = document.createElement("span");
          detail.className = "piped-text-detail";
          detail.textContent = item.detail;
          option.appendChild(detail);
        }
        const token = document.createElement("code");
        token.textContent = item.token;
        option.appendChild(token);
        menu.list.appendChild(option);
        menu.options.push(option);
      });
    });
    if (!menu.options.length) {
      const none = document.createElement("li");
      none.className = "piped-text-empty";
      none.setAttribute("role", "presentation");
      none.textContent = "Nothing matches “" + menu.filter.value + "”.";
      menu.list.appendChild(none);
    }
    activate(menu.options.length ? 0 : -1);
  }

  function activate(index) {
    menu.options.forEach(function (option, i) { option.setAttribute("aria-selected", String(i === index)); });
    menu.active = index;
    if (index >= 0) {
      menu.filter.setAttribute("aria-activedescendant", menu.options[index].id);
      menu.options[index].scrollIntoView({block: "nearest"});
    } else {
      menu.filter.removeAttribute("aria-activedescendant");
    }
  }

  function onKey(event) {
    const count = menu.options.length;
    switch (event.key) {
      case "ArrowDown":
        if (count) activate((menu.active + 1) % count);
        break;
      case "ArrowUp":
        if (count) activate((menu.active - 1 + count) % count);
        break;
      case "Home":
        if (!count || event.shiftKey) return;
        activate(0);
        break;
      case "End":
        if (!count || event.shiftKey) return;
        activate(count - 1);
        break;
      case "Enter":
        if (menu.active >= 0) choose(menu.options[menu.active]);
        break;
      case "Escape":
        close(true);
        break;
      default:
        return;
    }
    event.preventDefault(); // Enter must not submit the form, Escape must not leave a popup
  }

  function choose(option) {
    const field = menu.field;
    const token = option.dataset.token;
    const start = menu.start, end = menu.end;
    close(false);
    field.focus();
    field.setRangeText(token, start, end, "end");
    field.dispatchEvent(new Event("input", {bubbles: true}));
  }

  function close(returnFocus) {
    if (!menu) return;
    const current = menu;
    menu = null;
    current.button.setAttribute("aria-expanded", "false");
    current.root.remove();
    if (returnFocus) {
      current.field.focus();
      current.field.setSelectionRange(current.start, current.end);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
