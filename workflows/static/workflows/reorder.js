// The workflow page's conditions and tasks: ↑ and ↓ beside each position move the row and number
// the rows 1, 2, 3… in their new order; saving the page saves the order. Without this script the
// position fields are edited by hand, to the same effect.
'use strict';
{
    const GROUPS = '#conditions-group, #tasks-group';

    function position(row) {
        return row.querySelector('input[name$="-position"]');
    }

    function rowsOf(table) {
        return Array.from(table.querySelectorAll('tbody tr.form-row'))
            .filter((row) => position(row) && !row.classList.contains('empty-form'));
    }

    function move(row, step) {
        const rows = rowsOf(row.closest('table'));
        const other = rows[rows.indexOf(row) + step];
        if (!other) {
            return;
        }
        if (step < 0) {
            other.before(row);
        } else {
            other.after(row);
        }
        rowsOf(row.closest('table')).forEach((each, index) => {
            position(each).value = index + 1;
        });
        row.querySelector(step < 0 ? 'button.move-up' : 'button.move-down').focus();
    }

    function button(label, className, step, row) {
        const made = document.createElement('button');
        made.type = 'button';  // not a submit: the page is saved with its own buttons
        made.className = `button reorder ${className}`;
        made.textContent = label;
        made.setAttribute('aria-label', step < 0 ? 'Move up' : 'Move down');
        made.title = step < 0 ? 'Move up' : 'Move down';
        made.addEventListener('click', () => move(row, step));
        return made;
    }

    function addButtons(row) {
        const field = position(row);
        if (!field || row.querySelector('button.reorder') || row.classList.contains('empty-form')) {
            return;
        }
        field.after(button('↑', 'move-up', -1, row), button('↓', 'move-down', 1, row));
    }

    document.addEventListener('DOMContentLoaded', () => {
        document.querySelectorAll(GROUPS).forEach((group) => {
            group.querySelectorAll('tbody tr.form-row').forEach(addButtons);
        });
    });
    // Django's inlines announce a row added with "Add another".
    document.addEventListener('formset:added', (event) => {
        if (event.target.closest(GROUPS)) {
            addButtons(event.target);
        }
    });
}
