"""The official `openai` Python client against `mixrun serve` (make test-python; docs/serving.md).

A tiny random model (tests/mixrun/tiny.mix) with the llama3 tokenizer fixture and Llama 3's chat
tokens added; the `tokenizers` package renders the reference ids and text. Checks: completions and
chat, streamed and not, greedy text equal to `mixrun --text` / the chat template's ids run alone;
log-probabilities (completions, echoed prompts, chat, streamed) as the client types them;
a batch of prompts with n choices each, streamed and not;
a generation_config.json's end of sequence (and ignore_eos); its sampling defaults, as transformers
reads the file and vLLM takes them; add_generation_prompt, continue_final_message and chat_template_kwargs as transformers'
apply_chat_template renders them; --api-key as the client's api_key;
/tokenize's ids and token strings as the tokenizers package gives them;
16 concurrent clients each equal to their request alone; 200 clients beside 1,000 idle connections;
the client's errors for bad requests; structured outputs (a pydantic model's schema, JSON mode, tool_choice
"required" and a named function) validated by the client;
SIGTERM exits 0. Prints PASS/FAIL lines; exits 1 on failure.
"""
import ast
import concurrent.futures
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import openai
import tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
MIXRUN = os.path.join(ROOT, BUILD, "mixrun")
MODEL = ["--layout", "tests/mixrun/tiny.mix", "--set", "vocab=604", "--set", "context=4096",
         "--random-weights", "5", "--backend", "cpu"]
fails = 0


def check(name, got, want):
    global fails
    if got == want:
        print(f"PASS {name}")
    else:
        fails += 1
        print(f"FAIL {name}\n    got:  {got!r}\n    want: {want!r}")


def mixrun(*args):
    out = subprocess.run([MIXRUN, *MODEL, *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout


def chat_tokenizer(tmp):
    with open(os.path.join(ROOT, "tests/tokenizer/fixtures/llama3/tokenizer.json")) as f:
        j = json.load(f)
    for i, t in enumerate(["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]):
        j["added_tokens"].append({"id": 601 + i, "content": t, "single_word": False, "lstrip": False,
                                  "rstrip": False, "normalized": False, "special": True})
    path = os.path.join(tmp, "tokenizer.json")
    with open(path, "w") as f:
        json.dump(j, f)
    return path


def start(tmp, tok, *extra):
    err = open(os.path.join(tmp, "serve.err"), "w+")
    p = subprocess.Popen([MIXRUN, "serve", *MODEL, "--tokenizer", tok, "--port", "0", "--max-seqs", "4",
                          "--max-connections", "1500", *extra],
                         cwd=ROOT, stderr=err)
    for _ in range(600):
        err.seek(0)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", err.read())
        if m:
            return p, m.group(1)
        if p.poll() is not None:
            break
        time.sleep(0.1)
    err.seek(0)
    sys.exit(f"FAIL the server did not start: {err.read()[-800:]}")


def completions(client, tok_path):
    prompt = "Héllo, wörld: 中文 😀 12345"
    alone = mixrun("--tokenizer", tok_path, "--text", prompt, "--max-new", "12", "--print-ids").split("\n", 1)
    r = client.completions.create(model="tiny", prompt=prompt, max_tokens=12, temperature=0)
    check("openai-completion-text-equals-mixrun-text", r.choices[0].text, alone[1][:-1])
    check("openai-completion-ids", ",".join(map(str, r.choices[0].model_extra["token_ids"])), alone[0])
    check("openai-completion-usage", (r.usage.completion_tokens, r.choices[0].finish_reason), (12, "length"))
    chunks = list(client.completions.create(model="tiny", prompt=prompt, max_tokens=12, temperature=0, stream=True))
    check("openai-completion-stream", "".join(c.choices[0].text for c in chunks if c.choices), r.choices[0].text)
    r = client.completions.create(model="tiny", prompt=[5, 17, 300], max_tokens=4, temperature=0, logit_bias={"42": 100},
                                  frequency_penalty=0.5, presence_penalty=0.5, extra_body={"repetition_penalty": 1.3})
    check("openai-completion-logit-bias-and-penalties", r.choices[0].model_extra["token_ids"], [42] * 4)
    greedy = client.completions.create(model="tiny", prompt=[5, 17, 300], max_tokens=6, temperature=0)
    ids = greedy.choices[0].model_extra["token_ids"]
    r = client.completions.create(model="tiny", prompt=[5, 17, 300], max_tokens=6, temperature=1.2, seed=1,
                                  extra_body={"top_k": 1, "min_p": 0.1, "stop_token_ids": [ids[4]]})
    check("openai-completion-vllm-sampling-fields", (r.choices[0].model_extra["token_ids"], r.choices[0].finish_reason),
          (ids[:ids.index(ids[4])], "stop"))
    r = client.completions.create(model="tiny", prompt=[5, 17, 300, 42], max_tokens=9, temperature=0)
    check("openai-completion-token-ids", ",".join(map(str, r.choices[0].model_extra["token_ids"])),
          mixrun("--tokens", "5,17,300,42", "--max-new", "9").strip())
    # prefix caching: the next prompt starts with that one, whose caches its slot kept
    prompt = [5, 17, 300, 42] + r.choices[0].model_extra["token_ids"][:2] + [7]
    r = client.completions.create(model="tiny", prompt=prompt, max_tokens=5, temperature=0)
    check("openai-completion-cached-tokens", (r.usage.prompt_tokens, r.usage.prompt_tokens_details.cached_tokens,
                                              ",".join(map(str, r.choices[0].model_extra["token_ids"]))),
          (7, 4, mixrun("--tokens", ",".join(map(str, prompt)), "--max-new", "5").strip()))


def chat(client, tok_path):
    ref = tokenizers.Tokenizer.from_file(tok_path)
    messages = [{"role": "system", "content": " Be brief."}, {"role": "user", "content": "Hi there\n"}]
    text = "<|begin_of_text|>" + "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>"
                                         for m in messages) + "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ids = ref.encode(text, add_special_tokens=False).ids
    alone = [int(t) for t in mixrun("--tokens", ",".join(map(str, ids)), "--max-new", "24").split(",")]
    want = alone[:alone.index(603)] if 603 in alone else alone
    r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=24, temperature=0)
    check("openai-chat-prompt-tokens", r.usage.prompt_tokens, len(ids))
    check("openai-chat-text-equals-template-run-alone", r.choices[0].message.content,
          ref.decode(want, skip_special_tokens=False))
    check("openai-chat-finish", r.choices[0].finish_reason, "stop" if 603 in alone else "length")
    chunks = list(client.chat.completions.create(model="tiny", messages=messages, max_tokens=24, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    check("openai-chat-stream", "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
          r.choices[0].message.content)
    check("openai-chat-stream-usage", chunks[-1].usage.completion_tokens, r.usage.completion_tokens)
    # the Responses API (client.responses): the same conversation, instructions as its system message;
    # output_text the chat's content (skip_special_tokens false: vLLM's default there is true), its
    # stream's events through the client's stream helper, the last (response.completed, or .incomplete at
    # max_output_tokens) holding the same response
    kw = dict(model="tiny", instructions=" Be brief.", input=[{"role": "user", "content": "Hi there\n"}], max_output_tokens=24,
              temperature=0, extra_body={"skip_special_tokens": False})
    resp = client.responses.create(**kw)
    check("openai-responses", (resp.output_text, resp.usage.input_tokens, resp.usage.output_tokens, resp.status),
          (r.choices[0].message.content, r.usage.prompt_tokens, r.usage.completion_tokens,
           "completed" if r.choices[0].finish_reason == "stop" else "incomplete"))
    with client.responses.stream(**kw) as stream:
        events = list(stream)
    last = events[-1].response
    check("openai-responses-stream", ("".join(e.delta for e in events if e.type == "response.output_text.delta"), events[-1].type,
                                      last.output_text, last.usage.output_tokens),
          (resp.output_text, "response." + resp.status, resp.output_text, resp.usage.output_tokens))
    # kept (--store-responses): retrieve gives it back, previous_response_id continues its conversation
    # (the same prompt as the chat of its messages and answer, the instructions not carried), delete drops it
    check("openai-responses-retrieve", client.responses.retrieve(resp.id).output_text, resp.output_text)
    nxt = client.responses.create(model="tiny", input="And then?", previous_response_id=resp.id, max_output_tokens=2, temperature=0)
    then = client.chat.completions.create(model="tiny", max_tokens=2, temperature=0, extra_body={"skip_special_tokens": False},
                                          messages=[{"role": "user", "content": "Hi there\n"},
                                                    {"role": "assistant", "content": resp.output_text},
                                                    {"role": "user", "content": "And then?"}])
    check("openai-responses-previous", (nxt.previous_response_id, nxt.usage.input_tokens), (resp.id, then.usage.prompt_tokens))
    client.responses.delete(resp.id)
    try:
        client.responses.retrieve(resp.id)
        check("openai-responses-deleted", "found", "NotFoundError")
    except openai.NotFoundError:
        check("openai-responses-deleted", "NotFoundError", "NotFoundError")


def logprobs(client, tok_path):
    """Log-probabilities as the client types them: a completion's tokens are the tokenizers package's
    decode of each id alone, its alternatives hold the chosen token; a chat's entries carry their
    bytes and alternatives, streamed as whole."""
    ref = tokenizers.Tokenizer.from_file(tok_path)
    r = client.completions.create(model="tiny", prompt=[5, 17, 300, 42], max_tokens=9, temperature=0, logprobs=2)
    ids, lp = r.choices[0].model_extra["token_ids"], r.choices[0].logprobs
    check("openai-logprobs-completion-tokens", lp.tokens, [ref.decode([i], skip_special_tokens=False) for i in ids])
    check("openai-logprobs-completion-greedy-is-top", all(max(t.values()) == v for t, v in zip(lp.top_logprobs, lp.token_logprobs)),
          True)
    check("openai-logprobs-completion-offsets", lp.text_offset,
          [sum(len(t) for t in lp.tokens[:k]) for k in range(len(lp.tokens))])
    # lm-evaluation-harness's loglikelihood request: the prompt's ids echoed with their logprobs
    r = client.completions.create(model="tiny", prompt=[5, 17, 300, 42], max_tokens=1, temperature=0, echo=True,
                                  logprobs=1)
    lp = r.choices[0].logprobs
    check("openai-logprobs-echo", (len(lp.tokens), lp.token_logprobs[0], lp.top_logprobs[0],
                                   all(v < 0 for v in lp.token_logprobs[1:]), lp.tokens[:4]),
          (5, None, None, True, [ref.decode([i], skip_special_tokens=False) for i in [5, 17, 300, 42]]))
    # the same, batched (lm-evaluation-harness's batch_size > 1): each choice, by index, as its prompt alone
    batch = [[5, 17, 300, 42], [59, 413, 7]]
    r = client.completions.create(model="tiny", prompt=batch, max_tokens=1, temperature=0, echo=True, logprobs=1)
    alone = [client.completions.create(model="tiny", prompt=p, max_tokens=1, temperature=0, echo=True, logprobs=1)
             for p in batch]
    check("openai-logprobs-echo-batch", [c.logprobs.token_logprobs for c in sorted(r.choices, key=lambda c: c.index)],
          [a.choices[0].logprobs.token_logprobs for a in alone])
    # vLLM's prompt_logprobs (extra_body): each prompt id's, keyed by id, as the echo's logprobs give them;
    # decoded_token the tokenizers package's decode of the id alone
    r = client.completions.create(model="tiny", prompt=[5, 17, 300, 42], max_tokens=1, temperature=0,
                                  extra_body={"prompt_logprobs": 0})
    plp = r.choices[0].model_extra["prompt_logprobs"]
    check("openai-prompt-logprobs", [None] + [(e[str(i)]["logprob"], e[str(i)]["decoded_token"]) for e, i in zip(plp[1:], [17, 300, 42])],
          [None] + [(v, ref.decode([i], skip_special_tokens=False)) for v, i in zip(alone[0].choices[0].logprobs.token_logprobs[1:4], [17, 300, 42])])
    messages = [{"role": "user", "content": "Hi there"}]
    r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0, logprobs=True,
                                       top_logprobs=3)
    content = r.choices[0].logprobs.content
    check("openai-logprobs-chat-entries", [(c.token, len(c.top_logprobs), c.top_logprobs[0].logprob) for c in content],
          [(ref.decode([i], skip_special_tokens=False), 3, c.logprob)
           for i, c in zip(r.choices[0].model_extra["token_ids"], content)])
    check("openai-logprobs-chat-bytes", [bytes(c.bytes).decode() for c in content if c.bytes is not None],
          [c.token for c in content if "\ufffd" not in c.token])
    chunks = list(client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0,
                                                 logprobs=True, top_logprobs=3, stream=True))
    streamed = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    check("openai-logprobs-chat-stream", [(e.token, e.logprob) for e in streamed], [(c.token, c.logprob) for c in content])


def end_of_sequence(tmp, tok_path):
    """A checkpoint directory whose generation_config.json makes the 4th greedy token the EOS: the
    completion stops there ("stop", the EOS counted in usage, not in the text), as `mixrun --text`."""
    prompt = "Héllo, wörld: 中文 😀 12345"
    greedy = mixrun("--tokenizer", tok_path, "--text", prompt, "--max-new", "12", "--print-ids").split("\n")[0].split(",")
    ckpt = os.path.join(tmp, "eos")
    os.makedirs(ckpt)
    shutil.copy(tok_path, ckpt)
    with open(os.path.join(ckpt, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": [int(greedy[3])]}, f)
    alone = mixrun("--tokenizer", ckpt, "--text", prompt, "--max-new", "12", "--print-ids").split("\n", 1)
    check("openai-eos-mixrun-text-ids", alone[0], ",".join(greedy[:4]))
    server, url = start(ckpt, ckpt)
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
        r = client.completions.create(model="tiny", prompt=prompt, max_tokens=12, temperature=0)
        check("openai-eos-completion", (r.choices[0].text, r.choices[0].finish_reason, r.usage.completion_tokens),
              (alone[1][:-1], "stop", 4))
        r = client.completions.create(model="tiny", prompt=prompt, max_tokens=12, temperature=0,
                                      extra_body={"ignore_eos": True})
        check("openai-eos-ignored", (r.choices[0].finish_reason, r.usage.completion_tokens), ("length", 12))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


# vLLM's sampling fields of a generation config (ModelConfig.get_diff_sampling_param's available_params).
VLLM_SAMPLING = ["repetition_penalty", "temperature", "top_k", "top_p", "min_p", "max_new_tokens"]


def sampling_defaults(tmp, tok_path):
    """generation_config.json files as checkpoints ship them (Qwen2.5's, Llama 3.1's, Gemma 3's, one
    without sampling fields): the defaults mixrun serve says it takes are the fields vLLM takes of
    transformers' GenerationConfig of the file (to_diff_dict, not null)."""
    import transformers
    configs = {
        "qwen": {"bos_token_id": 1, "pad_token_id": 2, "do_sample": True, "eos_token_id": [600, 603],
                 "repetition_penalty": 1.05, "temperature": 0.7, "top_p": 0.8, "top_k": 20,
                 "transformers_version": "4.37.0"},
        "llama31": {"bos_token_id": 1, "do_sample": True, "eos_token_id": [600, 603], "temperature": 0.6,
                    "top_p": 0.9, "transformers_version": "4.42.3"},
        "gemma3": {"cache_implementation": "hybrid", "do_sample": True, "top_k": 64, "top_p": 0.95,
                   "min_p": None, "max_new_tokens": 40},
        "none": {"eos_token_id": 603, "max_length": 4096},
    }
    for name, cfg in configs.items():
        d = os.path.join(tmp, "gc-" + name)
        os.makedirs(d)
        shutil.copy(tok_path, d)
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump(cfg, f)
        server, _ = start(d, d)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        with open(os.path.join(d, "serve.err")) as f:
            said = re.search(r"sampling defaults of '[^']*': (\{.*?\}) \(", f.read())
        diff = transformers.GenerationConfig.from_pretrained(d).to_diff_dict()
        check(f"openai-sampling-defaults-{name}", json.loads(said.group(1)) if said else {},
              {k: diff[k] for k in VLLM_SAMPLING if diff.get(k) is not None})


def open_ended(tmp, tok_path):
    """Llama 3.1 Instruct's template (it trims the content) and ChatML (it keeps it): the prompt of
    add_generation_prompt false, and of continue_final_message, is transformers' apply_chat_template's
    with those arguments (the greedy ids and the prompt's count equal the rendering's ids run alone)."""
    import transformers
    ref = tokenizers.Tokenizer.from_file(tok_path)
    with open(os.path.join(ROOT, "tests/tokenizer/fixtures/chat/llama3.1.jinja")) as f:
        llama31 = f.read()
    with open(os.path.join(ROOT, "tests/tokenizer/fixtures/chat_templates.json")) as f:
        chatml = json.load(f)["templates"]["qwen2_chatml"]
    asks = [([{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "  Sure, the answer is "}],
             {"add_generation_prompt": False, "continue_final_message": True}),
            ([{"role": "user", "content": "Hi the "}], {"add_generation_prompt": False, "continue_final_message": True}),
            ([{"role": "user", "content": "Hi there"}], {"add_generation_prompt": False})]
    # ChatML's tokens are text to this tokenizer: its turn ends at the EOS, <|eot_id|>
    for name, template, eos in [("llama31", llama31, "<|eot_id|>"), ("chatml", chatml, "<|eot_id|>")]:
        d = os.path.join(tmp, "open-" + name)
        os.makedirs(d)
        shutil.copy(tok_path, d)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"chat_template": template, "bos_token": "<|begin_of_text|>", "eos_token": eos}, f)
        hf = transformers.PreTrainedTokenizerFast(tokenizer_file=tok_path, bos_token="<|begin_of_text|>", eos_token=eos)
        hf.chat_template = template
        server, url = start(d, d)
        try:
            client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
            for k, (messages, kw) in enumerate(asks):
                ids = ref.encode(hf.apply_chat_template(messages, tokenize=False, **kw), add_special_tokens=False).ids
                alone = [int(t) for t in mixrun("--tokens", ",".join(map(str, ids)), "--max-new", "8").split(",")]
                end = ref.token_to_id(eos)
                want = alone[:alone.index(end)] if end in alone else alone
                r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0, extra_body=kw)
                check(f"openai-open-ended-{name}-{k}", (r.choices[0].model_extra["token_ids"], r.usage.prompt_tokens),
                      (want, len(ids)))
            if name == "llama31":   # chat_template_kwargs: apply_chat_template's keyword arguments
                kwargs = {"date_string": "01 Dec 2026", "tools_in_user_message": False}
                messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
                text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
                ids = ref.encode(text, add_special_tokens=False).ids
                r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=1, temperature=0,
                                                   extra_body={"chat_template_kwargs": kwargs})
                body = json.dumps({"messages": messages, "chat_template_kwargs": kwargs}).encode()
                with urllib.request.urlopen(urllib.request.Request(url + "/tokenize", data=body)) as answer:
                    tokenized = json.load(answer)["tokens"]
                check("openai-chat-template-kwargs", (tokenized, r.usage.prompt_tokens, "01 Dec 2026" in text),
                      (ids, len(ids), True))
                tool_prompt(client, url, hf, ref)
                forced_tools(client)
                prompt = "Héllo, wörld: 中文 😀 12345 <|eot_id|>"   # /tokenize's token strings: id_to_token's
                body = json.dumps({"prompt": prompt, "return_token_strs": True}).encode()
                with urllib.request.urlopen(urllib.request.Request(url + "/tokenize", data=body)) as answer:
                    got = json.load(answer)
                want = ref.encode(prompt)
                check("openai-tokenize-token-strs", (got["tokens"], got["token_strs"]),
                      (want.ids, [ref.id_to_token(i) for i in want.ids]))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def tool_prompt(client, url, hf, ref):
    """Tools through the official client (tool_choice "none"): an assistant's tool call (arguments as
    JSON text, content None) and the tool's answer render as transformers' apply_chat_template renders
    what vLLM hands it: the tools' model_dump (description and parameters None when not given), the
    arguments parsed, a None content as ""."""
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                              "required": ["city"]}}},
             {"type": "function", "function": {"name": "now"}}]
    sent = [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"x\": 0.5}"}}]},
            {"role": "tool", "content": "21 C", "tool_call_id": "call1"}]
    as_vllm_tools = [{"type": "function", "function": {"name": t["function"]["name"], "description": t["function"].get("description"),
                                                        "parameters": t["function"].get("parameters")}} for t in tools]
    as_vllm = [dict(m, content=m["content"] or "") for m in sent]
    as_vllm[1]["tool_calls"] = [{**c, "function": {**c["function"], "arguments": json.loads(c["function"]["arguments"])}}
                                for c in sent[1]["tool_calls"]]
    ids = ref.encode(hf.apply_chat_template(as_vllm, tools=as_vllm_tools, tokenize=False, add_generation_prompt=True),
                     add_special_tokens=False).ids
    r = client.chat.completions.create(model="tiny", messages=sent, tools=tools, tool_choice="none", max_tokens=1, temperature=0)
    body = json.dumps({"messages": sent, "tools": tools}).encode()
    with urllib.request.urlopen(urllib.request.Request(url + "/tokenize", data=body)) as answer:
        tokenized = json.load(answer)["tokens"]
    check("openai-tools-prompt", (tokenized, r.usage.prompt_tokens, r.choices[0].message.tool_calls), (ids, len(ids), None))


def weather_models():
    """Pydantic models as clients write them: a nested model ($defs, $ref), an Optional (anyOf with
    null), an Enum and a Literal (enum), an int's and a float's bounds, an int's multiple_of, a set of
    literals (uniqueItems), a string's max_length, a list (of strings of at most 12 characters: the
    random model's strings are long)."""
    import enum
    from typing import Annotated, List, Literal, Optional, Set

    import pydantic

    class Unit(str, enum.Enum):
        celsius = "celsius"
        fahrenheit = "fahrenheit"

    class Place(pydantic.BaseModel):
        city: str = pydantic.Field(max_length=10)
        country: Optional[str]

    class Weather(pydantic.BaseModel):
        place: Place
        days: int = pydantic.Field(ge=1, le=14)
        step_m: int = pydantic.Field(multiple_of=250, gt=-1000)
        alerts: Set[Literal["wind", "rain", "heat"]]
        confidence: float = pydantic.Field(ge=0, le=1)
        low_c: float = pydantic.Field(gt=-90.5, lt=0.1)
        unit: Unit
        kind: Literal["forecast", "history"]
        tags: List[Annotated[str, pydantic.Field(max_length=12)]] = pydantic.Field(max_length=3)

    return Weather


def event_model():
    """A pydantic model of the string formats the guide writes (a datetime, a date, a time, a UUID, an
    IPv4 address), a pattern, and a pattern with lengths."""
    import datetime
    import ipaddress
    import uuid

    import pydantic

    class Event(pydantic.BaseModel):
        at: datetime.datetime
        day: datetime.date
        t: datetime.time
        id: uuid.UUID
        ip: ipaddress.IPv4Address
        code: str = pydantic.Field(pattern=r"^[A-Z]{2}-\d{3}$")
        tag: str = pydantic.Field(pattern=r"^[a-z]+(-[a-z]+)*$", min_length=3, max_length=8)

    return Event


def structured(client):
    """Structured outputs through the official client: chat.completions.parse with a pydantic model
    (the client sends its strict JSON schema and validates the answer into the model), sampled from
    the random model; the plain JSON mode; a stream of a schema's answer joins into the whole; vLLM's
    regex."""
    def parsed(model, max_tokens):   # four seeds' answers, each read back into the model by pydantic
        out = []
        for seed in range(4):
            r = client.beta.chat.completions.parse(model="tiny", messages=[{"role": "user", "content": "Go?"}],
                                                   response_format=model, max_tokens=max_tokens, temperature=1, seed=seed)
            out.append((r.choices[0].finish_reason, type(r.choices[0].message.parsed).__name__))
        return out
    check("openai-structured-pydantic", parsed(weather_models(), 1000), [("stop", "Weather")] * 4)
    check("openai-structured-formats", parsed(event_model(), 600), [("stop", "Event")] * 4)   # formats and a pattern
    kinds = []   # any object: its strings as long as the model makes them (some reach max_tokens)
    for seed in range(5):
        r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "JSON?"}], max_tokens=300,
                                           temperature=1, seed=seed, response_format={"type": "json_object"})
        c = r.choices[0]
        kinds.append(type(json.loads(c.message.content)).__name__ if c.finish_reason == "stop" else c.finish_reason)
    check("openai-structured-json-object", (set(kinds) <= {"dict", "length"}, kinds.count("dict") >= 2), (True, True))
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object", "properties": {"n": {
        "type": "integer", "minimum": 0, "maximum": 99}}, "required": ["n"], "additionalProperties": False}}}
    whole = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "n?"}], max_tokens=200,
                                           temperature=1, seed=5, response_format=fmt).choices[0].message.content
    parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="tiny", messages=[{"role": "user", "content": "n?"}], max_tokens=200, temperature=1, seed=5,
        response_format=fmt, stream=True) if c.choices]
    check("openai-structured-streamed", ("".join(parts), 0 <= json.loads(whole)["n"] <= 99), (whole, True))
    # vLLM's structured_outputs regex (extra_body): Python's re.fullmatch takes every answer
    pattern = r"[A-Z]\w{2,5}@\d{2}\.(com|org)(\s[a-z]{1,8})?"
    got = []
    for seed in range(4):
        c = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Mail?"}], max_tokens=200,
                                           temperature=1, seed=seed, extra_body={"structured_outputs": {"regex": pattern}}).choices[0]
        got.append((c.finish_reason, bool(re.fullmatch(pattern, c.message.content))))
    check("openai-structured-regex", got, [("stop", True)] * 4)
    # and its grammar (GBNF): arithmetic that Python's own parser reads
    grammar = 'root ::= expr\nexpr ::= term (("+" | "-") term){0,3}\nterm ::= [1-9] [0-9]{0,2} | "(" expr ")"'
    got = []
    for seed in range(4):
        c = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Sum?"}], max_tokens=300,
                                           temperature=1, seed=seed, extra_body={"structured_outputs": {"grammar": grammar}}).choices[0]
        tree = ast.parse(c.message.content, mode="eval") if c.finish_reason == "stop" else None
        got.append("length" if not tree else all(isinstance(n, (ast.Expression, ast.BinOp, ast.Add, ast.Sub, ast.Constant))
                                                 for n in ast.walk(tree)))
    check("openai-structured-grammar", (got.count(True) >= 2, set(got) <= {True, "length"}), (True, True))


def forced_tools(client):
    """tool_choice "required" and a named function through the official client (Llama 3.1's template
    renders the tools): the calls' arguments validated by pydantic; parse() with
    pydantic_function_tool (a strict tool) fills parsed_arguments."""
    Weather = weather_models()
    tool = openai.pydantic_function_tool(Weather, name="report")
    now = {"type": "function", "function": {"name": "now"}}
    got = []
    for seed in range(3):
        r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Weather?"}], tools=[tool, now],
                                           tool_choice="required", max_tokens=800, temperature=1, seed=seed)
        c = r.choices[0]
        if c.finish_reason == "length":   # the list may go on past max_tokens: then it is text
            got.append("length")
            continue
        ok = all(t.function.name == "now" and json.loads(t.function.arguments) == {} or
                 t.function.name == "report" and Weather.model_validate_json(t.function.arguments) is not None
                 for t in c.message.tool_calls)
        got.append((c.finish_reason, c.message.content, ok))
    check("openai-tool-choice-required", [g for g in got if g != "length"][:1] and
          all(g == "length" or g == ("tool_calls", None, True) for g in got), True)
    r = client.beta.chat.completions.parse(model="tiny", messages=[{"role": "user", "content": "Weather?"}], tools=[tool],
                                           tool_choice={"type": "function", "function": {"name": "report"}},
                                           max_tokens=600, temperature=1, seed=1)
    call = r.choices[0].message.tool_calls[0]
    check("openai-tool-choice-named", (r.choices[0].finish_reason, call.function.name,
                                       type(call.function.parsed_arguments).__name__), ("stop", "report", "Weather"))
    # streamed: the client's stream helper joins the arguments' deltas into the call, which pydantic reads
    with client.beta.chat.completions.stream(model="tiny", messages=[{"role": "user", "content": "Weather?"}], tools=[tool],
                                             tool_choice={"type": "function", "function": {"name": "report"}},
                                             max_tokens=600, temperature=1, seed=1) as stream:
        deltas = sum(1 for e in stream if e.type == "tool_calls.function.arguments.delta")
        final = stream.get_final_completion()
    streamed = final.choices[0].message.tool_calls[0]
    check("openai-tool-choice-named-streamed", (deltas > 1, streamed.function.name, streamed.function.arguments,
                                                type(streamed.function.parsed_arguments).__name__),
          (True, "report", call.function.arguments, "Weather"))
    # the Responses API (its flat function tools): the named call a function_call item as the chat's
    # (the same seed), and streamed, its arguments' deltas joining into it
    kw = dict(model="tiny", input="Weather?", tools=[{"type": "function", **tool["function"]}],
              tool_choice={"type": "function", "name": "report"}, max_output_tokens=600, temperature=1, extra_body={"seed": 1})
    resp = client.responses.create(**kw)
    item = resp.output[0]
    check("openai-responses-named-call", (resp.status, item.type, item.name, item.arguments),
          ("completed", "function_call", "report", call.function.arguments))
    with client.responses.stream(**kw) as stream:
        events = list(stream)
    final = stream.get_final_response()
    check("openai-responses-named-call-streamed",
          ("".join(e.delta for e in events if e.type == "response.function_call_arguments.delta"), final.output[0].arguments),
          (item.arguments, item.arguments))


def api_key(tmp, tok_path):
    """--api-key: the client's api_key is the Bearer key; another is the client's AuthenticationError."""
    d = os.path.join(tmp, "keyed")
    os.makedirs(d)
    server, url = start(d, tok_path, "--api-key", "k3y")
    try:
        good = openai.OpenAI(base_url=url + "/v1", api_key="k3y", max_retries=0, timeout=120)
        check("openai-api-key-accepted", [m.id for m in good.models.list()], ["tiny"])
        bad = openai.OpenAI(base_url=url + "/v1", api_key="other", max_retries=0, timeout=120)
        try:
            bad.completions.create(model="tiny", prompt=[5, 17], max_tokens=1)
            got = "served"
        except openai.AuthenticationError as e:
            got = (e.status_code, e.body.get("type") if isinstance(e.body, dict) else e.body)
        check("openai-api-key-refused", got, (401, "authentication_error"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def choices(client):
    """A batch of prompts with n choices each, as the client types it: choice i * n + j is prompt i's
    j-th draw, equal to that prompt alone with the seed + j; streamed, the chunks carry the choices by
    index; the usage counts each prompt once."""
    prompts = ["Once upon", "Héllo"]
    kw = dict(model="tiny", max_tokens=6, temperature=1.2, seed=7)
    r = client.completions.create(prompt=prompts, n=2, **kw)
    alone = [client.completions.create(prompt=prompts[i // 2], **{**kw, "seed": 7 + i % 2}) for i in range(4)]
    check("openai-choices-equal-alone", [(c.index, c.text) for c in r.choices],
          [(i, a.choices[0].text) for i, a in enumerate(alone)])
    check("openai-choices-usage", (r.usage.prompt_tokens, r.usage.completion_tokens),
          (alone[0].usage.prompt_tokens + alone[2].usage.prompt_tokens, sum(a.usage.completion_tokens for a in alone)))
    texts = ["", "", "", ""]
    for c in client.completions.create(prompt=prompts, n=2, stream=True, **kw):
        for choice in c.choices:
            texts[choice.index] += choice.text
    check("openai-choices-streamed", texts, [c.text for c in r.choices])
    r = client.chat.completions.create(messages=[{"role": "user", "content": "Hi"}], n=3, **kw)
    check("openai-chat-choices", [c.index for c in r.choices], [0, 1, 2])


def concurrency(client):
    prompts = [[(i * 7) % 600, (i * 13) % 600, (i * 29) % 600] for i in range(1, 17)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda p: client.completions.create(
            model="tiny", prompt=p, max_tokens=4 + p[0] % 9, temperature=0).choices[0].model_extra["token_ids"], prompts))
    want = [[int(t) for t in mixrun("--tokens", ",".join(map(str, p)), "--max-new", str(4 + p[0] % 9)).split(",")]
            for p in prompts]
    check("openai-16-concurrent-clients-equal-alone", got, want)


def crowd(client, url):
    """1,000 idle connections held open while 200 clients are served, each its own answer."""
    port = int(url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
    try:
        with concurrent.futures.ThreadPoolExecutor(200) as pool:
            got = list(pool.map(lambda i: client.completions.create(
                model="tiny", prompt=[1 + i % 3, 2, 3], max_tokens=3, temperature=0).choices[0].model_extra["token_ids"],
                range(200)))
    finally:
        for s in idle:
            s.close()
    want = [[int(t) for t in mixrun("--tokens", f"{1 + i},2,3", "--max-new", "3").split(",")] for i in range(3)]
    check("openai-1000-idle-connections-200-clients", got, [want[i % 3] for i in range(200)])


def errors(client):
    cases = [("n-above-128", openai.BadRequestError, dict(prompt=[1], n=129)),
             ("unknown-model", openai.NotFoundError, dict(prompt=[1], model="gpt-4")),
             ("past-the-context", openai.BadRequestError, dict(prompt=[1] * 4100)),
             ("unknown-field", openai.BadRequestError, dict(prompt=[1], extra_body={"frobnicate": 1}))]
    for name, error, kw in cases:
        kw.setdefault("model", "tiny")
        try:
            client.completions.create(max_tokens=4, **kw)
            check(f"openai-error-{name}", "answered", error.__name__)
        except error as e:
            check(f"openai-error-{name}", bool(e.body and e.body.get("message")), True)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)   # 1,200 sockets here and in the server
    want = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    with tempfile.TemporaryDirectory() as tmp:
        tok = chat_tokenizer(tmp)
        server, url = start(tmp, tok, "--store-responses", "16")
        try:
            client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
            check("openai-models", [m.id for m in client.models.list()], ["tiny"])
            completions(client, tok)
            chat(client, tok)
            logprobs(client, tok)
            choices(client)
            structured(client)
            concurrency(client)
            crowd(client, url)
            errors(client)
        finally:
            server.send_signal(signal.SIGTERM)
            check("openai-sigterm-exit-0", server.wait(timeout=60), 0)
        end_of_sequence(tmp, tok)
        sampling_defaults(tmp, tok)
        open_ended(tmp, tok)
        api_key(tmp, tok)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
