#!/usr/bin/env python3
"""Renders chat templates x conversations with jinja2 as transformers sets it up (its own
_compile_jinja_template: trim_blocks, lstrip_blocks, raise_exception) and writes
tests/tokenizer/fixtures/chat_templates.json, which tests/tokenizer/test_jinja compares
runtime/tok/jinja.c against (tests/tokenizer/run.sh). Run with the venv (transformers installed):
    /work/mixc-venv/bin/python tests/tokenizer/make_chat_fixtures.py
and commit the result. Each case holds the expected text, or "raises" (raise_exception's message),
or "error": true (jinja2 fails otherwise: mixc must fail too), or "refused" (a construct mixc does not
render: the template must be refused at load naming it; jinja2 must render it, so it is real)."""
import datetime
import json
import os
import sys

from transformers.utils.chat_template_utils import _compile_jinja_template

# As in the models' tokenizer_config.json (the Jinja text, after JSON decoding).
TEMPLATES = {
    "llama3": r"""{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>

'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>

' }}{% endif %}""",
    "gemma": r"""{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '
' + message['content'] | trim + '<end_of_turn>
' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model
'}}{% endif %}""",
    "mistral_v01": r"""{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}""",
    "llama2": r"""{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}""",
    "qwen2_chatml": r"""{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}""",
    "phi3": r"""{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'user' %}{{'<|user|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>
' + message['content'] + '<|end|>
'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>
' }}{% else %}{{ eos_token }}{% endif %}""",
    # TinyLlama-1.1B-Chat / Zephyr: one statement a line, trim_blocks at work.
    "zephyr": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
    # Not a model's: the rest of the subset, in the multi-line style of newer templates (white-space
    # control, trim_blocks and lstrip_blocks at work, namespaces, loop scoping).
    "features": r"""{#- a comment #}
{%- set ns = namespace(system=false, count=0, last='') %}
{%- set outer = 'outer' %}
{%- for message in messages %}
    {%- if message.role == 'system' %}
        {%- set ns.system = true %}
    {%- endif %}
    {%- set outer = 'inner' %}
    {%- set ns.count = ns.count + 1 %}
    {%- set ns.last = message['role'] %}
{%- endfor %}
{%- if not ns.system %}
<|im_start|>system
Default, {{ messages | length }} messages ({{ ns.count }}), last {{ messages[-1].role }}/{{ ns.last }}, {{ outer }}.<|im_end|>
{% endif %}
{% for message in messages %}
    {% if message['role'] not in 'system assistant' %}
<|im_start|>{{ message.role ~ '#' ~ loop.index }}
{{ message.content | trim }}<|im_end|>{{ '\n' if not loop.last else "" }}
    {% else %}
  <|im_start|>{{ message.role }}{% if loop.first %} first{% endif %} {# inline #} {{ 'sys' in message.role }}
{{ message['content'].strip() | length }} chars
    {%+ if loop.index is defined %}[{{ loop.index0 * 2 - 1 }}|{{ -7 % 3 }}|{{ loop.length }}|{{ loop.revindex }}]{% endif +%}
    {% endif %}
{% endfor %}
{%- set tail = messages[1:] %}
{{- '(' ~ (tail | length) ~ ',' ~ (messages[:-1] | length) ~ ',' ~ (messages[5:2] | length) ~ ')' }}
{{- bos_token or 'no-bos' }}|{{ eos_token and 'eos' }}|{{ none }}|{{ true }}|{{ 3 > 2 and 'b' >= 'a' }}|{{ bos_token is none }}|{{ eos_token is string }}|{{ messages[9] is defined }}|{{ messages[0] == messages[0] }}|{{ 'x' "y" }}|{{ "q\"\t" }}|{{ '=' * 3 }}{{ 2 * 'ab' }}{{ 'x' * -1 }}|{{ 'x' in bos_token }}
{%- if add_generation_prompt %}
<|im_start|>assistant
{% endif %}
""",
    # Not a model's: what the checkpoints' templates with tools added (for ... if, selectattr,
    # rejectattr, tojson, string, list, strftime_now, tools and documents none, the tests mapping and
    # iterable, attributes of none and of strings undefined).
    "features-tools": r"""{%- set users = messages | selectattr('role', 'equalto', 'user') | list %}
{%- set others = messages | rejectattr('role', 'eq', 'user') | list %}
{{- users | length }}/{{ others | length }}/{{ (messages | selectattr('content') | list) | length }}/
{{- (messages | selectattr('role', 'defined') | list | length) }}/{{ (messages | rejectattr('nothing', 'undefined') | list | length) }}
{%- if users %}|{{ users[-1].content | tojson }}|{{ users[0] == messages[0] }}{% endif %}
{%- for m in messages if m.role != 'user' %}
[{{ loop.index }}/{{ loop.length }} {{ m.role | tojson(indent=2) }} {{ m.content | string }}]
{%- endfor %}
{%- for a, b in custom_tools %}{{ a }}{% endfor %}
{%- for t in builtin_tools if t %}{{ t }}{% endfor %}
|{{ 3 | tojson }} {{ true | tojson }} {{ none | tojson }} {{ 7 | string }} {{ none | string }}|{{ tools is none }} {{ documents is none }} {{ builtin_tools is defined }} {{ date_string is undefined }} {{ custom_tools is iterable }}
|{{ strftime_now('%d %b %Y, %A %B %j %H:%M:%S %p %y %m %a %%') }}|{{ strftime_now is defined }}
|{{ messages[0] is mapping }} {{ messages[0].content is iterable }} {{ messages is iterable }} {{ 3 is iterable }} {{ none is mapping }}
|{{ tools.function is defined }} {{ messages[0].content.content is defined }} {{ (messages | list)[0].role }}
{%- if add_generation_prompt %}<gen>{% endif %}""",
    # Not a model's: str's methods, slices with a step, and the tests of values (what newer templates,
    # Qwen 3's, use), on every message.
    "features-strings": r"""{%- for m in messages[::-1] %}
{{- loop.index }}:{{ m.content[::-1] }}|{{ m.content[1::2] }}|{{ m.content[-2::-2] }}|{{ m.content[5:1:-1] }}|{{ m.content[::3] }}
|{{ m.content.strip() }}|{{ m.content.strip(' \n') }}|{{ m.content.lstrip('a Hé') }}|{{ m.content.rstrip('?!😀 ') }}|{{ m.content.rstrip(none) }}
|{{ m.content.startswith('H') }} {{ m.content.endswith('?') }} {{ m.content.startswith('') }} {{ 'x'.endswith('xx') }}
|{{ m.content.split() | join('/') }}|{{ m.content.split(' ') | join('/') }}|{{ m.content.split(none, 1) | join('/') }}|{{ m.content.split('o', 1) | join('/') }}|{{ m.content.split('</think>')[-1].lstrip('\n') }}
|{{ m.content.replace('o', '0') }}|{{ m.content.replace('l', 'L', 1) }}|{{ m.content.replace('', '.') }}|{{ m.content.replace('', '-', 2) }}
{% endfor %}
{{- messages[::2] | length }} {{ messages[::-1][0].role }} {{ messages[-1:0:-1] | length }} {{ messages[10::-1] | length }} {{ messages[:-10:-1] | length }}
|{{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }} {{ none is false }} {{ enable_thinking is false }} {{ enable_thinking is defined }} {{ continue_final_message is defined }}
|{{ 1 is integer }} {{ true is integer }} {{ 1 is number }} {{ true is number }} {{ true is boolean }} {{ 'a' is number }} {{ 'a' is sequence }} {{ messages is sequence }} {{ messages[0] is sequence }} {{ messages[0].nothing is sequence }} {{ 3 is sequence }} {{ none is boolean }}
{%- if tools %}|{{ tools[0].function.parameters.properties.days.minimum is float }} {{ tools[0].function.parameters.properties.days.minimum is number }} {{ tools[0].function.parameters.required is sequence }} {{ tools[0] is sequence }}{% endif %}""",
    # Not a model's: list and tuple literals, dict.get, | default and | map (templates of Mistral
    # Small 3.2, Devstral, firefunction, Nemotron, DeepSeek R1 use them).
    "features-literals": r"""{%- set roles = ['user', 'assistant'] %}
{%- for m in messages %}
{{- m.role in roles }} {{ m.role in ('system',) }} {{ m['role'] not in ['user', 'tool', 'system',] }} {{ m.get('role') }} {{ m.get('nothing', 'dflt') }} {{ m.get('nothing') is none }} {{ m.get(1, 'x') }}
{% endfor %}
{{- [1, 2] == [1, 2] }} {{ (1, 2) == (1, 2) }} {{ (1, 2) == [1, 2] }} {{ () | length }} {{ [] | length }} {{ ['a', 'b'] | join('+') }} {{ ('x',) | tojson }} {{ [1, [2, 'b'], none, true] | tojson }} {{ [messages[0].role, 3][0] }}
|{{ messages[0].nope | default('d') }} {{ messages[0].nope | d }}|{{ '' | default('empty', true) }} {{ '' | default('empty') }} {{ 0 | d(5, boolean=true) }} {{ messages[0].content | default('x') }} {{ none | default('n') }} {{ none | default('n', true) }}
|{{ messages | map(attribute='role') | join(',') }} {{ messages | map(attribute='nothing', default='-') | join(',') }} {{ messages | map(attribute='content') | map('length') | join(',') }} {{ messages | map(attribute='role') | map('tojson') | join }} {{ [[1, 2], [3]] | map(attribute='0') | join }} {{ messages | map(attribute='content') | map('trim') | list | length }}
{%- if tools %}|{{ tools | map(attribute='function.name') | join(', ') }} {{ tools[0].get('function').get('name') }} {{ tools | map(attribute='function.parameters.type', default='?') | join }}{% endif %}
{%- for a, b in [('k', 1), ['j', 2]] %}{{ a }}{{ b }}{% endfor %}""",
    # Not a model's: macros (recursive, with defaults and keyword arguments, their own sets and loops),
    # dict literals, loop.previtem and loop.nextitem (Hermes' and gpt-oss' templates use them).
    "features-macros": r"""{%- macro render(v, depth=0, sep=', ') %}
{%- set kinds = {"string": "str", "integer": "int", 'list': [1, 'two', none, {"x": "y"}]} %}
{%- if v is mapping %}{{ '{' }}{% for k, x in v | items %}{{ k }}={{ render(x, depth + 1) }}{{ sep if not loop.last }}{% endfor %}{{ '}' }}
{%- elif v is string %}{{ kinds[v] if kinds[v] is defined else v | tojson }}
{%- elif v is iterable %}[{% for x in v %}{{ render(x, depth + 1, sep=';') }}{{ sep if not loop.last }}{% endfor %}]@{{ depth }}
{%- else %}{{ v | tojson }}{% endif %}
{%- endmacro %}
{%- macro roles(msgs) -%}
{% for m in msgs %}{{ m.role }}{% if loop.previtem is defined %}<{{ loop.previtem.role }}{% endif %}{% if loop.nextitem is defined %}>{{ loop.nextitem.role }}{% endif %} {% endfor %}
{%- endmacro %}
{{- roles(messages) }}|{{ roles(msgs=messages[:1]) }}|{{ render({"a": [1, "string", [true, none]], "b": {"c": "x"}}) }}|{{ render(tools) if tools else render(none) }}
{%- set top = 'top1' %}{%- set ns = namespace(n=0) %}
{%- macro reads() %}{{ top }}/{{ later }}/{{ ns.n }}/{{ m_local is defined }}{% set ns.n = ns.n + 10 %}{% endmacro %}
|{{ reads() }}{% set top = 'top2' %}{% set later = 'L' %}{% if true %}{% set top = 'top3' %}{% endif %} {{ reads() }}
{%- for m in messages %}{% set top = 'loop' %}{% set m_local = 1 %}{% set ns.n = ns.n + 1 %} {{ reads() }}{% endfor %} {{ top }} {{ ns.n }}
|{{ {"k": messages[0].content, "n": [1, 2], "d": {}} | tojson }} {{ {'a': 1}['a'] }} {{ {'a': 1}.b is defined }} {{ {'a': 1} == {'a': 1} }} {{ {} | length }} {{ render('integer') + render(2) }}""",
    # Not a model's: upper, lower and dictsort as Gemma 4's tool declarations use them; equal keys
    # once lower-cased keep the dict's order, also reversed.
    "features-case": r"""{%- set d = {"b": 1, "B": 2, "a": none, "東京": "l", "_z": "x", "Ab": true, "": 0} %}
{%- for k, v in d | dictsort %}{{ k }}={{ v }} {% endfor %}|
{%- for k, v in d | dictsort(true) %}{{ k }} {% endfor %}|
{%- for k, v in d | dictsort(reverse=true) %}{{ k }} {% endfor %}|
{%- for k, v in d | dictsort(false, 'key', true) %}{{ k }} {% endfor %}|
{%- for k, v in d | dictsort(case_sensitive=true, reverse=true) %}{{ k }} {% endfor %}|{{ (d | dictsort)[0][0] == '' }}
{%- if tools %}{% for t in tools %}|{% if t.function.parameters %}{% for name, p in t.function.parameters.properties | dictsort %}{{ name | upper }}:{{ p.type | upper }} {% endfor %}{% endif %}{% endfor %}{% endif %}
{%- for m in messages %}|{{ m.role | upper }} {{ m.role.upper() }} {{ m.role.lower() }} {{ 'MiXeD 1-2_x' | lower }}{% endfor %}
|{{ none | upper }} {{ 5 | lower }} {{ true | lower }} {{ messages[0].nothing | upper }}. {{ ['a', 'B', '東'] | map('upper') | join(',') }} {{ ['a', 'B'] | map('lower') | list | length }}""",
    # Not a model's: block sets (a frame of their own) and the format filter, as Llama 4's tool calls
    # write their arguments.
    "features-blockset": r"""{%- set ns = namespace(n=0) %}{% set outer = 'o' %}
{%- macro shout(x) %}{{ x | upper }}!{{ outer }}{% endmacro %}
{%- set header %}
  [{{ messages | length }} messages]{% set inner = 'leaks?' %}{% set ns.n = ns.n + 1 %}{% set outer = 'inside' %}
{%- for m in messages %} {{ m.role }}{% endfor %}
{{ shout('h') }}
{% endset %}
{{- header }}|{{ header | length }}|{{ inner is defined }}|{{ outer }}|{{ ns.n }}
{%- for m in messages %}{% set line %}{{ loop.index }}:{{ m.role }}{% endset %}<{{ line }}>{% endfor %}
{%- set empty %}{% endset %}[{{ empty }}]{{ empty is string }}
{{ "%s=%d, %s%%" | format('a', 42, none) }} {{ "%s(%s)" | format(messages[0].role, true) }} {{ 'x' | format }} {{ "%d" | format(false) }}""",
    # Not a model's: str() of lists, tuples and dicts, Python's repr() of their items, as Qwen3-Coder's
    # template prints a tool's JSON schema values (| string), and | replace and | safe as it uses them.
    "features-repr": r"""{{ messages | map(attribute='content') | list }}|{{ messages[0].content | string | replace('l', 'L', 1) }}
|{{ [1, 'a', "it's", 'q"', none, true, -7, (1,), (1, 2), {'k': [1], 'j': {}}, [[]]] }}|{{ {'a': 1} ~ '' }}
|{{ ([messages | length] | string) ~ ({'t': [true, none]} | string) }}|{{ "%s" | format([1, 'x']) }}
{%- if tools %}|{{ tools[0].function.parameters }}|{{ tools[0] | tojson | safe }}|{{ '<' ~ (tools | tojson | safe) ~ '>' }}{% endif %}
|{{ 'a-b c$d' | replace('-', '_') | replace(' ', '_') | replace('$', '') }} {{ 'abc' | replace('', '.') }} {{ 12 | replace('2', 'x') }} {{ 'aaa' | replace(old='a', new='b', count=2) }} {{ 'x' | replace('x', 5) }}""",
    # Not a model's: {% break %} and {% continue %} (transformers' loopcontrols, which Cohere's
    # command-r7b uses), in nested loops, a filtered loop and a macro's, and list + list.
    "features-loopcontrols": r"""{%- set ns = namespace(seen=[], n=0) -%}
{%- for m in messages -%}
  {%- if m.role == 'system' -%}{%- continue -%}{%- endif -%}
  {%- if ns.n >= 3 -%}{%- break -%}{%- endif -%}
  {%- set ns.n = ns.n + 1 -%}
  {%- set ns.seen = ns.seen + [m.role] -%}
  [{{ loop.index }}/{{ loop.length }}{{ '!' if loop.last }}:
  {%- for w in m.content.split(' ') -%}
    {%- if w == '' -%}{%- continue -%}{%- elif w.startswith('{{') -%}{%- break -%}{%- endif -%}
    {{ w }}{{ '+' if not loop.last }}
  {%- endfor -%}]
{% endfor -%}
{{ ns.seen | join(',') }}|{{ (ns.seen + ['x'] + []) | length }}|{{ ((1, 2) + (3,)) | length }}|{{ ([1] + [2]) == [1, 2] }}|{{ ns.seen + [] == ns.seen }}
{%- macro upto(xs, stop) -%}{%- for x in xs -%}{%- if x == stop -%}{%- break -%}{%- endif -%}{{ x }}{%- endfor -%}{%- endmacro -%}
|{{ upto([1, 2, 3, 4], 3) }}|{{ upto(ns.seen, 'assistant') }}
{%- for m in messages if m.role != 'system' -%}{%- if loop.index > 2 -%}{%- break -%}{%- endif -%}|{{ loop.length }}{{ m.role }}{%- endfor -%}
{%- for i in [1, 2, 3] -%}{%- set last = i -%}{%- if i == 2 -%}{%- break -%}{%- endif -%}{%- endfor -%}|{{ last is defined }}
{%- for i in [] -%}{%- break -%}{%- endfor -%}
{%- for m in messages -%}{%- for t in [1, 2] -%}{%- if t == 2 -%}{%- continue -%}{%- endif -%}{{ t }}{%- endfor -%}{%- if loop.first -%}{%- continue -%}{%- endif -%}{{ m.role[:1] }}{%- endfor -%}""",
    # Not a model's: {% filter %} and transformers' {% generation %} blocks (firefunction-v2's and
    # LFM2's templates), the filters first, last, unique and indent (GLM 4.5's, MiniMax M2's,
    # functionary's, Command R+'s), tojson's ensure_ascii (GLM 4.6's), the string escapes Python's
    # unicode-escape codec decodes (Mistral Small 3.1's \ at a line's end), | safe added to with +
    # (jinja2's Markup escapes the other side: functionary v3.1's) and select of a false value.
    "features-blocks": r"""{%- filter trim %}
  {{ messages[0].role | upper }} block{{ '  ' }}
{% endfilter %}|{% filter upper | replace('A', '4') %}{% set inner = 'a' %}{{ inner }}{{ messages | length }}{% endfilter %}|{{ inner is defined }}
|{% for m in messages %}{% filter trim %} {{ m.role[:1] }} {% endfilter %}{% filter indent(2, true) %}{{ m.content }}{% endfilter %}{% endfor %}
|{% generation %}{% set g = 'x' %}{{ g }}{{ messages[-1].content[:3] }}{% endgeneration %}{{ g is defined }}
|{{ (messages | first).role }} {{ (messages | last).role }} {{ messages[0].content | first }}{{ messages[-1].content | last }} {{ [] | first is defined }} {{ '' | last is defined }} {{ {'a': 1, 'b': 2} | first }}{{ {'a': 1, 'b': 2} | last }} {{ (messages | selectattr('role') | first).role }} {{ undefined_name | first is defined }}
|{{ messages | map(attribute='role') | unique | join(',') }} {{ ['A', 'a', 'b', 'B'] | unique | join }} {{ ['A', 'a'] | unique(case_sensitive=true) | join }} {{ [1, true, 'x', none, none, 'X', 0, false] | unique | list | length }} {{ messages | unique(attribute='role') | map(attribute='content') | map('length') | join(',') }} {{ [[1, 'a'], [2, 'A'], [3, 'b']] | unique(attribute='1') | map(attribute='0') | join }}
{%- if tools %} {{ tools | unique(attribute='function.name') | list | length }} {{ (tools[0] | tojson(indent=2)) | indent(4, first=true) }}{% endif %}
|{{ messages[-1].content | indent }}|{{ 'a\nb\n\n c\n' | indent(2) }}|{{ 'x\r\ny\rz\x0bw\x0c.\x1c.' | indent(2, true) }}|{{ 'a\n\nb' | indent('> ', blank=true) }}|{{ '' | indent(first=true) }}|{{ 'a\u2028b\x85c\u2029d\r' | indent(1) }}|{{ 'q' | indent(-3, true) }}{{ 'q' | indent(true, true) }}
|{{ messages[0].content | tojson(ensure_ascii=False) }} {{ {'b': [1]} | tojson(indent=1, sort_keys=false) }}
|{{ "<a href='" | safe + messages[0].role + "' & \"" + "'>" | safe + '&' }}|{{ "<" | safe + ">" | safe }}|{{ ("a" | safe + "'") ~ "'" }}|{{ none | selectattr('x') | list | length }}{{ '' | select | list | length }}{{ 0 | reject('none') | list | length }}
|{{ 'a\
b' }}|{{ "t\tq\"\'" }}|{{ '\a\b\f\v' | length }}|{{ '\x41\u00e9\U0001F600\101\7\1234\0101' | tojson }}|{{ '\d\w \q\(' }}|{{ 'é\é\中\😀' }}""",
    # Not a model's: names no template above reads, from chat_template_kwargs or undefined.
    "features-free": r"""{{ thinking is defined }} {{ thinking | default('no') }} {{ controls | tojson if controls is defined }}
{%- if 'citations' in controls %} cite{% endif %}{% for c in controls %} [{{ c }}]{% endfor %} {{ controls | length }}
{%- if unused is defined %} {{ unused | length }}{% endif %}{% set later = 1 %} {{ later }}""",
    # Not a model's: JSON values as tool calling brings them (dicts and lists of the tools, a message's
    # tool_calls, chat_template_kwargs), and what templates do with them.
    "features-json": r"""{%- for t in tools %}
{{- t.function.name }}:{{ t | tojson }}
{{ t.function.parameters | tojson(indent=2) }}
{{ t.function | length }}|{{ t.function.parameters is mapping }}|{{ 'name' in t.function }}|{{ 'nope' not in t.function }}
{%- for k, v in t.function.items() if k != 'description' %}<{{ loop.index }} {{ k }}={{ v | tojson }}>{% endfor %}
{%- for k in t.function %}[{{ k }}]{% endfor %}
{%- for pair in t.function | items %}({{ pair[0] }}){% endfor %}
{%- set p = t.function.parameters %}
{%- if p and p.properties is defined %}
{%- for name, prop in p.properties | items %} {{ name }}:{{ prop.type }}{% if prop.enum is defined %} {{ prop.enum | join(',') }}={{ prop.enum | length }}{{ prop.enum[1] }}{% endif %}{% if prop.minimum is defined %} min={{ prop.minimum }} {{ prop.minimum > 0 }} {{ prop.maximum > 10 }} {{ prop.minimum == p.properties.days.minimum }} {{ prop.default == 0 }} {{ prop.examples[5] == 1 }}{% endif %}{% endfor %}
{%- endif %}
{{ t == tools[0] }} {{ t.function == t['function'] }} {{ t['function']['name'][1:] }} {{ (t | tojson)[:-1] }}
{% endfor %}
{%- for m in messages %}
{{- m.role }}{% if m.tool_calls is defined %} calls {{ m.tool_calls | length }}: {% for c in m.tool_calls %}{{ c.id }} {{ c.function.name }}({{ c.function.arguments | tojson }}) {{ c.function.arguments | items | list | length }}{% endfor %}{% endif %}
{%- if m.tool_call_id is defined %} for {{ m.tool_call_id }}{% endif %}{% if m.name %} named {{ m.name }}{% endif %}: {{ m.content[:5] }}|{{ m.content[-3:] }}|{{ m | tojson }}
{% endfor %}
{%- if builtin_tools is defined %}{{ builtin_tools | reject('equalto', 'code_interpreter') | join(', ') }}|{{ builtin_tools | select | list | length }}|{{ builtin_tools | tojson }}{% endif %}
{%- if custom_tools is defined %}|{{ custom_tools | tojson(indent=0) }}|{{ custom_tools | length }}{% endif %}""",
    # jinja2 fails on these: the length of a generator, tojson of an undefined value, str.strip unbound.
    "generator-length": "{{ messages | selectattr('role', 'equalto', 'user') | length }}",
    "tojson-undefined": "{{ messages[0].nothing | tojson }}",
    # jinja2 fails on these: a macro given an argument twice, or one it does not have.
    "macro-argument-twice": "{% macro f(a) %}{{ a }}{% endmacro %}{{ f(1, a=2) }}",
    "macro-unknown-argument": "{% macro f(a) %}{{ a }}{% endmacro %}{{ f(b=2) }}",
    # Windows line ends and a final newline (Jinja makes them \n and drops the last).
    "crlf": "{% for m in messages %}\r\n  {{- m.role }}: {{ m.content }}\r\n  {% endfor %}\r\n{{ 'end' }}\r\n",
    # Jinja fails on these (a string plus a number, an undefined value's attribute): mixc must fail too.
    "type-error": "{{ messages[0].content }}{% if messages | length > 1 %}{{ messages[1].content + 1 }}{% endif %}",
    "undefined-attr": "{% for m in messages %}{{ m.nothing.deeper }}{% endfor %}",
    "list-plus-tuple": "{{ messages[0].content }}{{ ([1] + (2,)) | length }}",
    "generator-plus-list": "{{ messages[0].content }}{{ ((messages | selectattr('role')) + [1]) | length }}",
    # jinja2 fails on these: a {% filter %} block's number, the last of a generator, unique's
    # unhashable keys, indent of a number.
    "filter-block-number": "{{ messages[0].content }}{% filter length %}abc{% endfilter %}",
    "last-of-generator": "{{ messages[0].content }}{{ messages | selectattr('role') | last }}",
    "unique-unhashable": "{{ messages[0].content }}{{ [[1], [1]] | unique | list | length }}",
    "indent-number": "{{ messages[0].content }}{{ messages | length | indent }}",
}

# Checkpoints' templates with tool branches, dates and namespaces, verbatim from their
# tokenizer_config.json (fixtures/chat/README.md), rendered as transformers does without tools.
CHAT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "chat")
# Not a model's: the edges of 64-bit integers (-2^63 is reached without overflow; Python's % by -1
# is 0, where C's traps on it).
TEMPLATES["int-edges"] = ("{{ 7 % -1 }}|{{ -7 % -1 }}|{{ (-4294967296 * 2147483648) % -1 }}|"
                          "{{ -4294967296 * 2147483648 }}|{{ -7 % 3 }}|{{ 7 % -3 }}|{{ messages | length % -1 }}")

for _name in ("llama3.1", "llama3.2", "qwen2.5", "mistral-v0.3", "qwen3", "mistral-small-3.2", "devstral-small", "kimi-k2",
              "hermes-3-tool-use", "gpt-oss", "gemma-4", "granite-3.3", "qwen3-coder", "deepseek-r1-distill-qwen",
              "command-r7b", "mistral-small-3.1", "firefunction-v2", "functionary-v3.2", "functionary-v3.1"):
    with open(os.path.join(CHAT_DIR, _name + ".jinja"), encoding="utf-8") as _f:
        TEMPLATES[_name] = _f.read()

# strftime_now's clock in the fixtures (transformers: datetime.now()): test_jinja sets the same.
NOW = datetime.datetime(2024, 9, 5, 13, 7, 9)

TOKENS = {   # bos_token, eos_token as the checkpoints have them (None: not set)
    "llama3": ("<|begin_of_text|>", "<|eot_id|>"), "gemma": ("<bos>", "<eos>"), "mistral_v01": ("<s>", "</s>"),
    "llama2": ("<s>", "</s>"), "qwen2_chatml": (None, "<|im_end|>"), "phi3": ("<s>", "<|endoftext|>"),
    "features": (None, "</s>"), "crlf": ("<s>", "</s>"), "zephyr": ("<s>", "</s>"), "type-error": ("<s>", "</s>"),
    "undefined-attr": ("<s>", "</s>"), "features-tools": (None, None), "generator-length": (None, None),
    "tojson-undefined": (None, None), "llama3.1": ("<|begin_of_text|>", "<|eot_id|>"),
    "llama3.2": ("<|begin_of_text|>", "<|eot_id|>"), "qwen2.5": (None, "<|im_end|>"), "mistral-v0.3": ("<s>", "</s>"),
    "int-edges": (None, None), "features-json": (None, None), "qwen3": (None, "<|im_end|>"),
    "features-strings": (None, None), "features-literals": (None, None), "macro-argument-twice": (None, None), "macro-unknown-argument": (None, None),
    "mistral-small-3.2": ("<s>", "</s>"), "devstral-small": ("<s>", "</s>"), "kimi-k2": (None, "<|im_end|>"),
    "hermes-3-tool-use": ("<|begin_of_text|>", "<|im_end|>"), "gpt-oss": ("<|startoftext|>", "<|return|>"),
    "features-macros": (None, None), "gemma-4": ("<bos>", "<eos>"), "features-case": (None, None),
    "granite-3.3": (None, "<|end_of_text|>"), "features-free": (None, None), "features-blockset": (None, None),
    "qwen3-coder": (None, "<|im_end|>"), "features-repr": (None, None),
    "deepseek-r1-distill-qwen": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "command-r7b": ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"), "features-loopcontrols": (None, None),
    "list-plus-tuple": (None, None), "generator-plus-list": (None, None), "features-blocks": (None, None),
    "filter-block-number": (None, None), "last-of-generator": (None, None), "unique-unhashable": (None, None),
    "indent-number": (None, None), "mistral-small-3.1": ("<s>", "</s>"),
    "firefunction-v2": ("<|begin_of_text|>", "<|eot_id|>"), "functionary-v3.2": ("<|begin_of_text|>", "<|eot_id|>"),
    "functionary-v3.1": ("<|begin_of_text|>", "<|eot_id|>"),
}

def conv(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]

CONVERSATIONS = {
    "user": conv(("user", "Hello!")),
    "system-user": conv(("system", "  Be brief.\n"), ("user", "Hi there  ")),
    "multi-turn": conv(("user", "Héllo, wörld: 中文 😀"), ("assistant", " Hi!\n\nHow can I help? "),
                       ("user", "Say \"quotes\" and 'apostrophes' {{ not_jinja }} <s> [INST]")),
    "system-multi-turn": conv(("system", "\u3000sys\u00a0"), ("user", "a"), ("assistant", "b"), ("user", "\tc\u200b")),
    "assistant-first": conv(("assistant", "x"), ("user", "y")),
    "user-user": conv(("user", "x"), ("user", "y")),
    "empty-content": conv(("user", "")),
    "tool-role": conv(("user", "x"), ("tool", "y")),
    "tool-escapes": conv(("system", "s"), ("user", "x"), ("tool", "a \"q\" \\ \n\t\u0001\u007f é 中 😀 </s>"),
                         ("tool", "second")),
}

# Templates jinja2 renders and mixc refuses at load, with the words its error must hold.
REFUSED = {
    "filter-wordcount": ("{{ messages[0]['content'] | wordcount }}", "the filter 'wordcount' is not supported"),
    "variable-pad-token": ("{{ pad_token }}{{ messages[0]['content'] }}", "the variable 'pad_token' is not supported "
                           "(transformers gives it the tokenizer's special token, which mixc does not read)"),
    "variable-range": ("{% if range is defined %}{{ messages[0]['content'] }}{% endif %}", "the variable 'range' is not "
                       "supported (Jinja's function, read as a value)"),
    "variable-raise-exception": ("{{ raise_exception is defined }}", "the variable 'raise_exception' is not supported"),
    "macro-in-macro": ("{% macro f() %}{% macro g() %}{% endmacro %}{% endmacro %}", "a macro inside a macro is not supported"),
    "macro-in-for": ("{% for m in messages %}{% macro f() %}x{% endmacro %}{% endfor %}", "a macro inside if or for is not supported"),
    "set-block-attribute": ("{% set ns = namespace(a=1) %}{% set ns.a %}x{% endset %}{{ ns.a }}", "a block {% set %} of an attribute is not supported"),
    "call-block": ("{% macro f() %}{{ caller() }}{% endmacro %}{% call f() %}x{% endcall %}", "the statement 'call' is not supported"),
    "function-range": ("{% for i in range(2) %}{{ i }}{% endfor %}", "the function 'range' is not supported"),
    "method-title": ("{{ messages[0]['content'].title() }}", "the method 'title' is not supported (only items(), "
                     "get(), strip(), lstrip(), rstrip(), startswith(), endswith(), split(), replace(), upper() and "
                     "lower())"),
    "loop-depth": ("{% for m in messages %}{{ loop.depth }}{% endfor %}", "the loop attribute 'depth' is not "
                   "supported (only index0, index, first, last, length, revindex, revindex0, previtem and nextitem)"),
    "filter-sort": ("{% for k in ['b', 'a'] | sort %}{{ k }}{% endfor %}", "the filter 'sort' is not supported"),
    "break-in-block-set": ("{% for m in messages %}{% set x %}{{ m.role }}{% break %}{% endset %}{{ x }}{% endfor %}",
                           "'break' outside a for loop (one in a block {% set %}, {% filter %} or {% generation %} is not supported)"),
    "continue-in-filter-block": ("{% for m in messages %}{% filter trim %}{% continue %}{% endfilter %}{% endfor %}",
                                 "'continue' outside a for loop (one in a block {% set %}, {% filter %} or {% generation %}"),
    "safe-added-then-filtered": ("{{ ('a' | safe + messages[0]['content']) | trim }}", "the filter 'safe' is supported only where"),
    "escape-name": ("{{ '\\N{EM DASH}' }}", "the string escape '\\N{...}' is not supported"),
    "escape-nul": ("{{ 'a\\0' }}", "the string escape of U+0000 is not supported"),
    "escape-surrogate": ("{{ 'a\\ud800' }}", "the string escape of U+D800 is not supported"),
    "for-recursive": ("{% for m in messages recursive %}{{ m.content }}{% endfor %}", "'recursive' is not supported"),
    "loop-cycle": ("{% for m in messages %}{{ loop.cycle('a', 'b') }}{% endfor %}", "the method 'cycle' is not supported"),
    "test-divisibleby": ("{% for m in messages %}{{ loop.index is divisibleby(2) }}{% endfor %}", "the test 'divisibleby' is not supported"),
    "loop-changed": ("{% for m in messages %}{{ loop.changed(m.role) }}{% endfor %}", "the method 'changed' is not supported"),
    "division": ("{{ messages | length / 2 }}", "the operators / // ** are not supported"),
}

# Templates jinja2 cannot compile (its TemplateSyntaxError or Python's SyntaxError), which mixc refuses at load with these words.
UNCOMPILABLE = {
    "break-outside-loop": ("{{ messages[0]['content'] }}{% if true %}{% break %}{% endif %}", "'break' outside a for loop"),
    "escape-truncated": ("{{ '\\x4' }}", "the string escape '\\x' is truncated or out of range"),
    "escape-out-of-range": ("{{ '\\U00110000' }}", "the string escape '\\U' is truncated or out of range"),
    "filter-block-test": ("{% filter trim is string %}x{% endfilter %}", "expected the end of the {% filter %} tag"),
    "continue-in-macro": ("{% macro f() %}{% continue %}{% endmacro %}{% for m in messages %}{{ f() }}{% endfor %}",
                          "'continue' outside a for loop"),
}


# Tools as vLLM hands them to the template (ChatCompletionToolsParam.model_dump(): description and
# parameters None when not given): nested schemas, floats, non-ASCII.
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Le temps qu'il fait \u00e0 \"city\"\n",
     "parameters": {"type": "object", "properties": {
         "city": {"type": "string", "description": "a city, e.g. \u6771\u4eac"},
         "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
         "days": {"type": "integer", "minimum": 0.5, "maximum": 1e22, "multipleOf": 1e-05, "default": -0.0,
                  "examples": [0.1, 2.5, 1e16, 123456789.125, 1e-4, True, None, []]}},
         "required": ["city"]}}},
    {"type": "function", "function": {"name": "now", "description": None, "parameters": None}},
]

# Documents as vLLM hands them to the template: objects of strings (a title, a text beyond ASCII, quotes).
DOCUMENTS = [{"title": "Weather", "text": "Sunny in Paris, 21 \u00b0C."},
             {"title": "N\u00f6te \"q\"", "text": "a\nb \u4e2d \U0001F600", "url": "https://example.com/x"}]


def call(cid, name, args):
    # an assistant's tool call as vLLM hands it over: its arguments parsed from their JSON text
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}

TOOL_CONVERSATIONS = {
    # Qwen 3's reasoning: an earlier answer's <think> is dropped, the last query's kept
    "thinking": [{"role": "user", "content": "Hi"},
                 {"role": "assistant", "content": "<think>\nGreet.\n</think>\n\nHello!"},
                 {"role": "user", "content": "Weather in Paris?"},
                 {"role": "assistant", "content": "<think>\nUse the tool.\n</think>\n\n",
                  "tool_calls": [call("abc123XYZ", "get_weather", {"city": "Paris"})]},
                 {"role": "tool", "content": "<tool_response>sunny</tool_response>", "tool_call_id": "abc123XYZ"},
                 {"role": "assistant", "content": "<think>\nAnswer.\n</think>\n\nSunny."}],
    "tool-call": [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": "", "tool_calls": [call("abc123XYZ", "get_weather", {"city": "Paris", "days": 2})]},
                  {"role": "tool", "content": "{\"temp\": 21.5}", "tool_call_id": "abc123XYZ"},
                  {"role": "user", "content": "And tomorrow? \u00e9\u4e2d"}],
    # an assistant's reasoning as vLLM hands it over: the request's "reasoning", also as reasoning_content
    "reasoning-field": [{"role": "user", "content": "Weather in Paris?"},
                        {"role": "assistant", "content": "", "tool_calls": [call("abc123XYZ", "get_weather", {"city": "Paris"})],
                         "reasoning": "Use the tool.", "reasoning_content": "Use the tool."},
                        {"role": "tool", "content": "sunny", "tool_call_id": "abc123XYZ"}],
    # the same as mixrun serve hands it to gpt-oss' template, which reads it as "thinking" (gpt-oss only)
    "reasoning-field-harmony": [{"role": "user", "content": "Weather in Paris?"},
                                {"role": "assistant", "content": "", "tool_calls": [call("abc123XYZ", "get_weather", {"city": "Paris"})],
                                 "reasoning": "Use the tool.", "reasoning_content": "Use the tool.", "thinking": "Use the tool."},
                                {"role": "tool", "content": "sunny", "tool_call_id": "abc123XYZ"}],
    "parallel-calls": [{"role": "user", "content": "Two things"},
                       {"role": "assistant", "content": "Sure.", "tool_calls": [call("aaaaaaaa1", "now", {}),
                                                                               call("bbbbbbbb2", "get_weather", {"city": "\u6771\u4eac", "unit": None})]},
                       {"role": "tool", "content": "12:00", "tool_call_id": "aaaaaaaa1", "name": "now"},
                       {"role": "tool", "content": "sunny", "tool_call_id": "bbbbbbbb2"}],
}

def render(tmpl, messages, bos, eos, gen, tools=None, kwargs=None, documents=None):
    # as transformers' render_jinja_template: tools and documents None unless given (tools [] for a
    # request's "tools": []); strftime_now on a fixed clock; kwargs (chat_template_kwargs) over them
    kw = {"messages": messages, "add_generation_prompt": gen, "tools": tools, "documents": documents,
          "strftime_now": lambda fmt: NOW.strftime(fmt), **(kwargs or {})}
    if bos is not None:
        kw["bos_token"] = bos
    if eos is not None:
        kw["eos_token"] = eos
    return _compile_jinja_template(tmpl).render(**kw)


def outcome(case, tmpl, messages, bos, eos, gen, **kw):
    """The case's expected rendering, or what jinja2 raises: raise_exception's message, else an error
    (jinja2 raises Python's errors too)."""
    import jinja2
    try:
        case["expected"] = render(tmpl, messages, bos, eos, gen, **kw)
    except Exception as e:   # noqa: BLE001
        if type(e) is jinja2.exceptions.TemplateError:
            case["raises"] = str(e)
        else:
            case["error"] = True


def tool_cases():
    """The templates with tools, tool calls and chat_template_kwargs of lists and dicts."""
    import jinja2
    KWARGS = {"": None, "-builtin": {"builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]},
              "-user-tools": {"tools_in_user_message": False, "date_string": "1 Dec 2026"},
              "-custom": {"custom_tools": [TOOLS[1]]},
              "-no-thinking": {"enable_thinking": False}, "-thinking": {"enable_thinking": True},
              "-one-tool": {}}   # the weather tool alone (Hermes' and functionary v3.1's fail on a tool without a description)
    FOR = {"llama3.1": ("-builtin", "-user-tools", "-custom"), "features-json": ("-builtin", "-user-tools", "-custom"),
           "qwen3": ("-no-thinking", "-thinking"), "features-strings": ("-no-thinking",),
           "hermes-3-tool-use": ("-one-tool",), "gpt-oss": ("-one-tool",), "gemma-4": ("-no-thinking", "-thinking"),
           "functionary-v3.1": ("-one-tool",)}
    cases = []
    for name in ("llama3.1", "llama3.2", "qwen2.5", "mistral-v0.3", "features-json", "qwen3", "features-strings",
                 "features-literals", "mistral-small-3.2", "devstral-small", "kimi-k2", "hermes-3-tool-use", "gpt-oss",
                 "features-macros", "gemma-4", "features-case", "granite-3.3", "qwen3-coder", "features-repr", "deepseek-r1-distill-qwen",
                 "command-r7b", "features-loopcontrols", "features-blocks", "mistral-small-3.1", "firefunction-v2",
                 "functionary-v3.2", "functionary-v3.1"):
        bos, eos = TOKENS[name]
        convs = dict(TOOL_CONVERSATIONS, user=CONVERSATIONS["user"], **{"system-user": CONVERSATIONS["system-user"]})
        for cname, messages in convs.items():
            if cname == "reasoning-field-harmony" and name != "gpt-oss":
                continue
            for kname, kwargs in KWARGS.items():
                if kname and (kname not in FOR.get(name, ()) or
                              cname not in (("user", "tool-call", "thinking", "parallel-calls", "reasoning-field-harmony") if kname == "-one-tool"
                                            else ("tool-call", "thinking"))):
                    continue
                tools = TOOLS[:1] if kname == "-one-tool" else TOOLS
                case = {"name": f"{name}-{cname}-tools{kname}", "template": name, "messages": messages,
                        "bos_token": bos, "eos_token": eos, "add_generation_prompt": True,
                        "now": NOW.strftime("%Y-%m-%d %H:%M:%S"), "tools": tools}
                if kwargs:
                    case["kwargs"] = kwargs
                outcome(case, TEMPLATES[name], messages, bos, eos, True, tools=tools, kwargs=kwargs)
                cases.append(case)
    # jinja2 renders these; mixc refuses them when rendered, naming why: a dict printed (Python's repr),
    # a dict's method read as a key (jinja2 prints the bound method).
    for name, (tmpl, words) in RENDER_REFUSED.items():
        render(tmpl, TOOL_CONVERSATIONS["tool-call"], None, None, True, tools=TOOLS)
        TEMPLATES["render-refused-" + name] = tmpl
        cases.append({"name": "render-refused-" + name, "template": "render-refused-" + name,
                      "messages": TOOL_CONVERSATIONS["tool-call"], "tools": TOOLS, "add_generation_prompt": True,
                      "render_refused": words})
    return cases

RENDER_REFUSED = {
    "tojson-ensure-ascii": ("{{ tools | tojson(ensure_ascii=true) }}", "tojson takes only indent"),
    "print-generator": ("{{ tools | select }}", "printing a list is not supported"),
    "tuple-in-dict": ("{{ {'t': (1, 2)} }}", "a tuple in a dict literal is not supported"),
    "print-message": ("{{ [messages[0]] }}", "printing a list is not supported"),
    "dict-method": ("{{ tools[0].function.items }}", "'items' of a dict is its method"),
    "float-arith": ("{{ tools[0].function.parameters.properties.days.minimum + 1 }}", "the operator '+' on a float"),
    "message-vs-dict": ("{{ messages[0] == tools[0] }}", "comparing a message with a dict is not supported"),
    "dict-key-not-string": ("{{ {1: 'x'} | tojson }}", "a dict literal's key must be a string"),
    "loop-depth-key": ("{% for m in messages %}{{ loop['depth'] }}{% endfor %}", "the loop attribute 'depth' is not "
                       "supported (only index0, index, first, last, length, revindex, revindex0, previtem and nextitem)"),
    "upper-sharp-s": ("{{ ('stra\u00dfe ' + tools[0].function.name) | upper }}", "upper() of a string holding '\u00df' is not supported"),
    "lower-sigma": ("{{ 'O\u03a3'.lower() }}", "lower() of a string holding '\u03a3' is not supported"),
    "lower-roman-numeral": ("{{ ['\u2160'] | map('lower') | list | length }}", "lower() of a string holding '\u2160' is not supported"),
    "dictsort-key-case": ("{% for k, v in {'\u00c9': 1} | dictsort %}{{ k }}{% endfor %}", "lower() of a string holding '\u00c9' is not supported"),
    "dictsort-by-value": ("{% for k, v in {'b': 'x', 'a': 'y'} | dictsort(by='value') %}{{ k }}{% endfor %}", "dictsort takes case_sensitive, by='key' and reverse only"),
    "dictsort-message": ("{% for k, v in messages[0] | dictsort %}{{ k }}{% endfor %}", "dictsort of a message is not supported"),
    "format-x": ("{{ '%x' | format(15) }}", "format with '%x' is not supported (only %s, %d and %%)"),
    "format-width": ("{{ '%5s' | format('a') }}", "format with '%5' is not supported"),
    "format-float-d": ("{{ '%d' | format(tools[0].function.parameters.properties.days.minimum) }}", "format's %d of a float is not supported"),
    "format-generator": ("{{ '%s' | format(tools | select) }}", "format's %s of a list is not supported"),
    "generator-equal": ("{{ (tools | select) == (tools | select) }}", "comparing a generator is not supported"),
}


def main():
    out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else os.path.join(
        os.path.dirname(__file__), "fixtures", "chat_templates.json")
    import jinja2
    cases = []
    for name, tmpl in TEMPLATES.items():
        bos, eos = TOKENS[name]
        for cname, messages in CONVERSATIONS.items():
            for gen in (True, False):
                if not gen and cname not in ("multi-turn", "system-user"):
                    continue
                case = {"name": f"{name}-{cname}" + ("" if gen else "-no-gen"), "template": name,
                        "messages": messages, "bos_token": bos, "eos_token": eos, "add_generation_prompt": gen,
                        "now": NOW.strftime("%Y-%m-%d %H:%M:%S")}
                outcome(case, tmpl, messages, bos, eos, gen)
                cases.append(case)
    # tools=[] (a request's "tools": []): templates that tell [] from none render their tool headers
    for name in ("llama3.1", "llama3.2", "qwen2.5", "mistral-v0.3", "features-tools"):
        bos, eos = TOKENS[name]
        for cname in ("user", "system-user", "multi-turn"):
            case = {"name": f"{name}-{cname}-tools-empty", "template": name, "messages": CONVERSATIONS[cname],
                    "bos_token": bos, "eos_token": eos, "add_generation_prompt": True,
                    "now": NOW.strftime("%Y-%m-%d %H:%M:%S"), "tools": []}
            try:
                case["expected"] = render(TEMPLATES[name], CONVERSATIONS[cname], bos, eos, True, tools=[])
            except jinja2.exceptions.TemplateError as e:
                case["raises"] = str(e)
            cases.append(case)
    cases += tool_cases()
    # vLLM's documents (a list of objects of strings) through the templates that render them: Cohere's
    # command-r7b (a document turn, the direct-injected-document tool: without tools, jinja2 fails on
    # its loop over them, as vLLM's rendering would) and Granite 3.3's
    for name in ("command-r7b", "granite-3.3"):
        bos, eos = TOKENS[name]
        for cname, tools in (("user", None), ("system-user", []), ("tool-call", TOOLS)):
            messages = CONVERSATIONS.get(cname) or TOOL_CONVERSATIONS[cname]
            case = {"name": f"{name}-{cname}-documents", "template": name, "messages": messages, "bos_token": bos,
                    "eos_token": eos, "add_generation_prompt": True, "now": NOW.strftime("%Y-%m-%d %H:%M:%S"),
                    "documents": DOCUMENTS}
            if tools is not None:
                case["tools"] = tools
            outcome(case, TEMPLATES[name], messages, bos, eos, True, tools=tools, documents=DOCUMENTS)
            cases.append(case)
    # chat_template_kwargs of names only these templates read, without tools (Granite's thinking
    # prompt is the one without tools): any name reaches the template, as vLLM passes it
    FREE = {"thinking": {"thinking": True}, "controls": {"controls": {"citations": True, "length": "short"}},
            "both": {"thinking": False, "controls": {}, "unused": [1]}}
    for name in ("granite-3.3", "features-free"):
        bos, eos = TOKENS[name]
        for cname in ("user", "system-user"):
            for kname, kwargs in FREE.items():
                case = {"name": f"{name}-{cname}-kwargs-{kname}", "template": name, "messages": CONVERSATIONS[cname],
                        "bos_token": bos, "eos_token": eos, "add_generation_prompt": True,
                        "now": NOW.strftime("%Y-%m-%d %H:%M:%S"), "kwargs": kwargs,
                        "expected": render(TEMPLATES[name], CONVERSATIONS[cname], bos, eos, True, kwargs=kwargs)}
                cases.append(case)
    templates = dict(TEMPLATES)
    for name, (tmpl, words) in REFUSED.items():
        render(tmpl, CONVERSATIONS["multi-turn"], "<s>", "</s>", True)   # jinja2 renders it
        templates["refused-" + name] = tmpl
        cases.append({"name": "refused-" + name, "template": "refused-" + name, "refused": words})
    for name, (tmpl, words) in UNCOMPILABLE.items():
        try:
            _compile_jinja_template(tmpl)
            raise AssertionError(f"jinja2 compiles {name}")
        except (SyntaxError, jinja2.exceptions.TemplateSyntaxError):
            pass
        templates["uncompilable-" + name] = tmpl
        cases.append({"name": "uncompilable-" + name, "template": "uncompilable-" + name, "refused": words})
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"made_with": {"jinja2": jinja2.__version__}, "templates": templates, "cases": cases}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
