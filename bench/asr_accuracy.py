"""Intent accuracy and WER of obzvon-asr on a reproducible synthetic telephone set. One JSON line.

The set is rendered offline by tests/asr/asr_voices.py (Festival, Flite, espeak-ng, Piper, ru_tts;
never espeak-ng for Russian), varied in tempo, pitch and line noise, put through 8 kHz G.711
µ-law, and cached under .local/asr-set/. It has eight parts (SETS, --set):

* tuning, held_out_v1: the original 171 replies (PHRASES x the six TUNING_VOICES x VARIANTS),
  halved by a CRC (held_out()). The engine's settings were chosen looking at all of them.
* held_out_v2: NEW_PHRASES (written before the engine heard them) x every available voice x
  V2_VARIANTS, plus PHRASES on the voices added with it only (pseudo-speakers included). Blind
  when first run (80.8 %), tuned on since; splits also give the parts (new_text, old_text,
  new_text_new_voice).
* held_out_v3: V3_PHRASES (written blind, when held_out_v2 was about to be tuned on) x every
  available voice x V3_VARIANTS (conditions none of which is one of held_out_v2's). Run once
  blind (56.25 %), tuned on since (the intent cues). splits also give
  held_out_v3/new_text_new_voice (the voices not in TUNING_VOICES).
* held_out_v4: V4_PHRASES (written blind, when held_out_v3 was about to be tuned on) x every
  available voice x V4_VARIANTS (conditions none of which is one of v1's, v2's or v3's). Run once
  blind (38.5 %); two generic negation fixes followed from its errors, so the next accuracy claim
  needs a held_out_v5 written blind. splits also give
  held_out_v4/new_text_new_voice (the voices not in TUNING_VOICES).
* held_out_v5: V5_PHRASES (written blind on 2026-11-28, when held_out_v4 had been tuned on, by a
  writer who had seen neither the engine's code nor its errors) x every available voice x
  V5_VARIANTS (conditions with no tempo, pitch or hiss level one of v1's-v4's). Run once blind,
  with meaning.py final (53.65 %; 44.5 % with --no-meaning); the next claim needs a held_out_v6.
  Used since to choose the intent head's settings (a development set).
  splits also give held_out_v5/new_text and held_out_v5/new_text_new_voice.
* held_out_v6: V6_PHRASES (written blind on 2026-11-28, when held_out_v5 had been run, by a writer
  who had seen neither the engine's code nor its errors) x every available voice x V6_VARIANTS
  (conditions with no tempo, pitch or hiss level one of v1's-v5's). Run once blind, with the
  intent head final (74.48 %; 49.2 % with --no-meaning); the next claim needs a held_out_v7.
  splits also give held_out_v6/new_text and held_out_v6/new_text_new_voice.
* held_out_v7: V7_PHRASES (written blind on 2026-11-28, when held_out_v6 had been run, by a writer
  who had seen neither the engine's code nor its errors) x every available voice x V7_VARIANTS
  (conditions with no tempo, pitch or hiss level one of v1's-v6's). Rendered (237 s), not yet run.
  splits also give held_out_v7/new_text and held_out_v7/new_text_new_voice.

Usage: .venv/bin/python bench/asr_accuracy.py
[--set tuning|held_out_v1|held_out_v2|held_out_v3|held_out_v4|held_out_v5|held_out_v6|held_out_v7|all]
[--errors] [--models ru=base,en=base] [--min-frames 1000] [--expect yes_no] [--limit N]
[--probe: free transcripts of 10 plain replies per voice, to judge a voice, not the engine]
[--render-only: render the chosen set into the cache, print {"set", "n", "render_s"}; no engine]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "asr"))

import asr_voices  # noqa: E402
from obzvon_asr import intents  # noqa: E402
from obzvon_asr.engine import AsrEngine, EngineOptions, Utterance, models_from_env  # noqa: E402

CACHE = ROOT / ".local" / "asr-set" / "audio"

SETS = (
    "tuning",
    "held_out_v1",
    "held_out_v2",
    "held_out_v3",
    "held_out_v4",
    "held_out_v5",
    "held_out_v6",
    "held_out_v7",
)

PHRASES: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("Да.", "yes"),
        ("Да, конечно.", "yes"),
        ("Ага.", "yes"),
        ("Конечно.", "yes"),
        ("Давайте.", "yes"),
        ("Да, приду.", "yes"),
        ("Хорошо.", "yes"),
        ("Угу.", "yes"),
        ("Нет.", "no"),
        ("Нет, не надо.", "no"),
        ("Не интересно.", "no"),
        ("Нет, спасибо.", "no"),
        ("Не нужно.", "no"),
        ("Нет, я не приду.", "no"),
        ("Не звоните мне больше.", "opt_out"),
        ("Удалите мой номер.", "opt_out"),
        ("Отпишите меня.", "opt_out"),
        ("Хватит мне звонить.", "opt_out"),
        ("Больше не звоните сюда.", "opt_out"),
        ("Перезвоните позже.", "callback"),
        ("Перезвоните вечером.", "callback"),
        ("Сейчас неудобно, я за рулём.", "callback"),
        ("Соедините с оператором.", "operator"),
        ("Можно поговорить с живым человеком?", "operator"),
        ("Алло, кто это?", "other"),
        ("Я сейчас в магазине стою.", "other"),
        ("Не знаю.", "other"),
        ("Какая сегодня погода?", "other"),
    ],
    "en": [
        ("Yes.", "yes"),
        ("Yeah.", "yes"),
        ("Sure.", "yes"),
        ("Yes, please.", "yes"),
        ("Of course.", "yes"),
        ("Okay.", "yes"),
        ("Yes, I will be there.", "yes"),
        ("No.", "no"),
        ("Nope.", "no"),
        ("No thanks.", "no"),
        ("I'm not interested.", "no"),
        ("No, thank you.", "no"),
        ("Stop calling me.", "opt_out"),
        ("Please remove my number.", "opt_out"),
        ("Unsubscribe.", "opt_out"),
        ("Don't call me again.", "opt_out"),
        ("Call me back later.", "callback"),
        ("Not now, I'm driving.", "callback"),
        ("Let me talk to an operator.", "operator"),
        ("I want to speak to a real person.", "operator"),
        ("Hello, who is this?", "other"),
        ("I don't know.", "other"),
        ("The weather is lovely today.", "other"),
    ],
}

# (tempo, pitch in cents, line noise dBFS or None); cycled over phrases per voice so every phrase
# meets several conditions across voices without multiplying the set.
VARIANTS: list[tuple[float, int, float | None]] = [
    (1.0, 0, None),
    (1.15, 0, -45.0),
    (0.9, -150, None),
    (1.0, 200, -38.0),
]


# Written on 2026-11-28, before the engine had heard any of them, for held_out_v2 (see SETS). Not to be
# edited to fit the recogniser: a phrasing that fails stays and counts.
NEW_PHRASES: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("Ну да.", "yes"),
        ("Да, давайте.", "yes"),
        ("Да, всё верно.", "yes"),
        ("Конечно, буду.", "yes"),
        ("Ладно, договорились.", "yes"),
        ("Да-да, подтверждаю.", "yes"),
        ("Нет, не хочу.", "no"),
        ("Мне это не нужно.", "no"),
        ("Нет, не получится.", "no"),
        ("Неа.", "no"),
        ("Нет, я передумал.", "no"),
        ("Уберите меня из списка.", "opt_out"),
        ("Больше сюда не звоните, пожалуйста.", "opt_out"),
        ("Не беспокойте меня больше.", "opt_out"),
        ("Удалите мой номер из базы.", "opt_out"),
        ("Наберите через час.", "callback"),
        ("Перезвоните завтра утром.", "callback"),
        ("Я сейчас занят, позвоните попозже.", "callback"),
        ("Сейчас не могу говорить.", "callback"),
        ("Давайте в другой раз.", "callback"),
        ("Дайте мне оператора.", "operator"),
        ("Переключите на живого человека.", "operator"),
        ("Можно с менеджером поговорить?", "operator"),
        ("А вы кто?", "other"),
        ("Откуда у вас мой номер?", "other"),
        ("Повторите, пожалуйста.", "other"),
        ("А что за мероприятие?", "other"),
    ],
    "en": [
        ("Yep.", "yes"),
        ("Absolutely.", "yes"),
        ("Yeah, that works for me.", "yes"),
        ("Sure thing.", "yes"),
        ("Yes, that's right.", "yes"),
        ("Alright, sounds good.", "yes"),
        ("Nah.", "no"),
        ("Not really.", "no"),
        ("No, I don't think so.", "no"),
        ("No, I can't make it.", "no"),
        ("Nope, not interested.", "no"),
        ("Take me off your list.", "opt_out"),
        ("Please don't call this number again.", "opt_out"),
        ("Put me on your do not call list.", "opt_out"),
        ("I want to opt out.", "opt_out"),
        ("Can you call tomorrow?", "callback"),
        ("I'm at work right now, call me later.", "callback"),
        ("Could you try again in an hour?", "callback"),
        ("This isn't a good time.", "callback"),
        ("Put me through to a human.", "operator"),
        ("Can I speak to someone?", "operator"),
        ("Transfer me to an agent, please.", "operator"),
        ("What is this about?", "other"),
        ("Who gave you my number?", "other"),
        ("Sorry, can you repeat that?", "other"),
        ("Hang on a second.", "other"),
    ],
}

# Written blind for held_out_v3 (see SETS), when held_out_v2 was about to be tuned on: the engine has
# not heard them, and their writer had not seen the engine's code nor any list of its errors. Not to
# be edited to fit the recogniser: a phrasing that fails stays and counts. Labelled as a call centre
# would act: another time is callback, a person is operator, stop calling / drop the number is
# opt_out, a refusal (cancelling included) is no, a non-answer (question back, confusion) is other.
V3_PHRASES: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("Ага, буду.", "yes"),
        ("Обязательно приду.", "yes"),
        ("Естественно.", "yes"),
        ("Да, подойду к десяти.", "yes"),
        ("Буду как штык.", "yes"),
        ("Не, не смогу.", "no"),
        ("Нет, завтра никак.", "no"),
        ("Отменяйте запись.", "no"),
        ("Ни за что.", "no"),
        ("Прекратите мне названивать.", "opt_out"),
        ("Вычеркните мой номер.", "opt_out"),
        ("Забудьте этот номер навсегда.", "opt_out"),
        ("Я не хочу, чтобы мне звонили.", "opt_out"),
        ("Позвоните после обеда.", "callback"),
        ("Я на совещании, наберите минут через двадцать.", "callback"),
        ("Давайте созвонимся в понедельник.", "callback"),
        ("Мне сейчас не до этого, звякните вечерком.", "callback"),
        ("Позовите оператора.", "operator"),
        ("Я хочу поговорить с администратором.", "operator"),
        ("С роботом разговаривать не буду, дайте человека.", "operator"),
        ("Оператор!", "operator"),
        ("А вы из какой клиники?", "other"),
        ("Что-что? Не расслышал.", "other"),
        ("Подождите, я ручку возьму.", "other"),
    ],
    "en": [
        ("Yup.", "yes"),
        ("Definitely.", "yes"),
        ("Count me in.", "yes"),
        ("Yes, ten o'clock is fine.", "yes"),
        ("You bet.", "yes"),
        ("No way.", "no"),
        ("I won't be coming.", "no"),
        ("Cancel it, please.", "no"),
        ("No, I have other plans.", "no"),
        ("Quit calling this number.", "opt_out"),
        ("Lose my number.", "opt_out"),
        ("Delete my details from your system.", "opt_out"),
        ("I don't want any more of these calls.", "opt_out"),
        ("Ring me tomorrow afternoon.", "callback"),
        ("I'm in a meeting, can you call back in twenty minutes?", "callback"),
        ("Try me again next week.", "callback"),
        ("Bad timing, call me tonight.", "callback"),
        ("Operator.", "operator"),
        ("Representative.", "operator"),
        ("I'd rather talk to a receptionist.", "operator"),
        ("Is there a person I can talk to?", "operator"),
        ("Which clinic is this?", "other"),
        ("Wait, what appointment?", "other"),
        ("Speak up, I can barely hear you.", "other"),
    ],
}

# Written blind for held_out_v4 (see SETS), when held_out_v3 was about to be tuned on: the engine has
# not heard them, and their writer had not seen the engine's code nor any list of its errors. None is
# one of the earlier lists' phrasings. Not to be edited to fit the recogniser: a phrasing that fails
# stays and counts. Labelled as V3_PHRASES are (as a call centre would act): four per intent.
V4_PHRASES: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("Разумеется.", "yes"),
        ("Так точно.", "yes"),
        ("Спасибо, к десяти приеду.", "yes"),
        ("Всё в силе, мы с мужем подъедем.", "yes"),
        ("Увы, нет.", "no"),
        ("Исключено.", "no"),
        ("Никуда я не пойду.", "no"),
        ("Меня завтра не будет в городе.", "no"),
        ("Никаких больше звонков!", "opt_out"),
        ("Занесите мой номер в стоп-лист.", "opt_out"),
        ("Я запрещаю вам мне звонить.", "opt_out"),
        ("Достали, больше не набирайте этот номер!", "opt_out"),
        ("Звоните в пятницу.", "callback"),
        ("Я на работе, давайте ближе к шести.", "callback"),
        ("Перенесём разговор на выходные.", "callback"),
        ("Я кормлю ребёнка, свяжитесь со мной через полчаса.", "callback"),
        ("Мне нужен сотрудник.", "operator"),
        ("Свяжите меня с регистратурой.", "operator"),
        ("Передайте трубку кому-нибудь из персонала.", "operator"),
        ("Хочу пообщаться с консультантом.", "operator"),
        ("Я вас не понимаю.", "other"),
        ("Это по поводу чего?", "other"),
        ("Это что, автоответчик?", "other"),
        ("Секундочку, у меня чайник закипел.", "other"),
    ],
    "en": [
        ("Certainly.", "yes"),
        ("Uh-huh.", "yes"),
        ("See you at ten.", "yes"),
        ("I wouldn't miss it.", "yes"),
        ("Absolutely not.", "no"),
        ("Sorry, I'm unable to attend.", "no"),
        ("Forget it, I'm not going.", "no"),
        ("I'm out of town tomorrow.", "no"),
        ("Enough with the calls!", "opt_out"),
        ("Never ring me again.", "opt_out"),
        ("Erase my phone number from your records.", "opt_out"),
        ("I do not consent to these calls.", "opt_out"),
        ("Give me a buzz this evening.", "callback"),
        ("I'm cooking, phone me around six.", "callback"),
        ("Get back to me on Thursday.", "callback"),
        ("Can we talk another day?", "callback"),
        ("Customer service, please.", "operator"),
        ("Connect me with a staff member.", "operator"),
        ("I need somebody from the front desk.", "operator"),
        ("Get your supervisor on the line.", "operator"),
        ("Huh?", "other"),
        ("Who am I speaking with?", "other"),
        ("Is this a recording?", "other"),
        ("Sorry, my dog just ran out the door.", "other"),
    ],
}

# Written blind for held_out_v5 (see SETS) on 2026-11-28, when held_out_v4 had been tuned on: the engine
# has not heard them, and their writer had seen neither the engine's code nor any list of its errors.
# None is one of the earlier lists' phrasings. Not to be edited to fit the recogniser: a phrasing that
# fails stays and counts. Labelled as V3_PHRASES are (as a call centre would act): four per intent.
V5_PHRASES: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("Само собой.", "yes"),
        ("Приду, спасибо, что напомнили.", "yes"),
        ("Ну конечно, куда ж я денусь.", "yes"),
        ("Да, буду в половине одиннадцатого.", "yes"),
        ("Вряд ли.", "no"),
        ("Нет, завтра я работаю.", "no"),
        ("Я уже в другой клинике лечусь.", "no"),
        ("Нет, я записалась по ошибке.", "no"),
        ("Отстаньте уже со своими звонками!", "opt_out"),
        ("Я отказываюсь от ваших звонков.", "opt_out"),
        ("Уберите мой телефон из обзвона.", "opt_out"),
        ("Я не ваш пациент, перестаньте звонить.", "opt_out"),
        ("Я в метро, перезвоните минут через десять.", "callback"),
        ("Можно вы мне ближе к вечеру позвоните?", "callback"),
        ("Ой, я с собакой гуляю, можно чуть позже?", "callback"),
        ("Позвоните, пожалуйста, часа в три.", "callback"),
        ("Соедините меня с врачом.", "operator"),
        ("А медсестру можно к телефону?", "operator"),
        ("Есть там кто-нибудь живой?", "operator"),
        ("Хочу поговорить с заведующей.", "operator"),
        ("А сколько стоит приём?", "other"),
        ("А к какому врачу я записана?", "other"),
        ("Алло, вас совсем не слышно.", "other"),
        ("А паспорт с собой брать?", "other"),
    ],
    "en": [
        ("Yeah, I'll make it.", "yes"),
        ("Thanks for reminding me, I'll come.", "yes"),
        ("Yes, ma'am.", "yes"),
        ("I'm planning on it.", "yes"),
        ("Tomorrow doesn't work for me.", "no"),
        ("Not gonna happen.", "no"),
        ("I've already seen another doctor.", "no"),
        ("I'll have to skip it.", "no"),
        ("Please stop harassing me.", "opt_out"),
        ("You've got the wrong person, stop calling here.", "opt_out"),
        ("I don't want these reminders anymore.", "opt_out"),
        ("If you call again, I'm reporting you.", "opt_out"),
        ("Can you call back after lunch?", "callback"),
        ("I'm with a client, give me ten minutes.", "callback"),
        ("Now's not great, maybe this evening?", "callback"),
        ("Catch me tomorrow morning, okay?", "callback"),
        ("Can I talk to the nurse?", "operator"),
        ("I need a live person, please.", "operator"),
        ("Let me speak with my doctor.", "operator"),
        ("I'd like the office manager.", "operator"),
        ("How much is the visit?", "other"),
        ("Which doctor am I seeing?", "other"),
        ("Sorry, you're breaking up.", "other"),
        ("Do I need to bring anything?", "other"),
    ],
}

# Written blind for held_out_v6 (see SETS) on 2026-11-28, when held_out_v5 had been run: the engine has
# not heard them, and their writer had seen neither the engine's code nor any list of its errors. None
# is one of the earlier lists' phrasings. Not to be edited to fit the recogniser: a phrasing that fails
# stays and counts. Labelled as V3_PHRASES are (as a call centre would act): four per intent. The calls
# vary: a clinic appointment, a courier's delivery slot, a technician's visit.
V6_PHRASES: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("Идёт.", "yes"),
        ("Да, с десяти до двенадцати я как раз дома.", "yes"),
        ("Пусть мастер приезжает, я весь день никуда не ухожу.", "yes"),
        ("Ну, в принципе, да, смогу.", "yes"),
        ("Нетушки.", "no"),
        ("Нет, я в отпуске до конца месяца.", "no"),
        ("Нет, в это время я на смене.", "no"),
        ("Мастер уже не нужен, мы сами всё починили.", "no"),
        ("Оставьте меня в покое, это уже третий звонок за день.", "opt_out"),
        ("Исключите меня из рассылки, я согласия не давал.", "opt_out"),
        ("Отключите мне эти автоматические звонки.", "opt_out"),
        ("Не трезвоньте мне, пожалуйста.", "opt_out"),
        ("Не сейчас.", "callback"),
        ("Слушайте, я в душе, можно через пять минут?", "callback"),
        ("Я у стоматолога сижу, наберите после двух.", "callback"),
        ("Давайте вы мне завтра часиков в девять позвоните.", "callback"),
        ("Переведите звонок на диспетчера.", "operator"),
        ("Мне бы с курьером напрямую поговорить.", "operator"),
        ("Переключите меня на старшего смены.", "operator"),
        ("Я хочу с кем-то из людей разговаривать, не с автоматом.", "operator"),
        ("Хм, дайте подумать.", "other"),
        ("А курьер перед приездом позвонит?", "other"),
        ("А на анализы натощак приходить?", "other"),
        ("Какой ещё мастер? Я что-то не понял.", "other"),
    ],
    "en": [
        ("Perfect.", "yes"),
        ("Fine by me.", "yes"),
        ("Yeah, ten to twelve is great, I'm home all morning.", "yes"),
        ("Go ahead and send the technician, I'll leave the gate open.", "yes"),
        ("Negative.", "no"),
        ("No, I'm travelling for work until Friday.", "no"),
        ("That slot's no good, nobody will be home.", "no"),
        ("We already fixed the leak ourselves, so no.", "no"),
        ("This is the third call today, leave me alone.", "opt_out"),
        ("I never signed up for these, stop it.", "opt_out"),
        ("No more robocalls to this phone, please.", "opt_out"),
        ("I'm blocking you, don't bother ringing back.", "opt_out"),
        ("Busy right now, some other time?", "callback"),
        ("I'm at the dentist, reach me after two.", "callback"),
        ("About to board a flight, call on Monday.", "callback"),
        ("Could you phone back once the kids are asleep?", "callback"),
        ("Can you patch me through to dispatch?", "operator"),
        ("I'd like to talk to the driver directly.", "operator"),
        ("Get me someone from support.", "operator"),
        ("I'm not talking to a machine, I want the scheduling team.", "operator"),
        ("Hmm, let me think about it.", "other"),
        ("Will the driver call before he arrives?", "other"),
        ("Is there parking near the clinic?", "other"),
        ("What order? I didn't buy anything.", "other"),
    ],
}

# Written blind for held_out_v7 (see SETS) on 2026-11-28, when held_out_v6 had been run: the engine has
# not heard them, and their writer had seen neither the engine's code nor any list of its errors. None
# is one of the earlier lists' phrasings. Not to be edited to fit the recogniser: a phrasing that fails
# stays and counts. Labelled as V3_PHRASES are (as a call centre would act): four per intent. The calls
# vary: a pharmacy order ready for pickup, a bank card delivery, a car service booking, a school
# parents' meeting, an internet provider's technician visit.
V7_PHRASES: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("Годится.", "yes"),
        ("Да, карту можно привозить, я после шести всегда дома.", "yes"),
        ("Записывайте, в субботу утром пригоню машину.", "yes"),
        ("Хорошо-хорошо, на собрание приду.", "yes"),
        ("Нет уж.", "no"),
        ("Лекарство уже не нужно, я купила в другой аптеке.", "no"),
        ("Отмените доставку карты, я передумала.", "no"),
        ("Машину я уже в другом сервисе сделал, так что нет.", "no"),
        ("Сколько можно, сотрите мой номер!", "opt_out"),
        ("Не звоните больше на этот номер, это рабочий телефон.", "opt_out"),
        ("Я отказываюсь от всех ваших уведомлений по телефону.", "opt_out"),
        ("Прошу исключить мой номер из ваших звонков.", "opt_out"),
        ("Попозже.", "callback"),
        ("Я за рулём, наберите через полчасика.", "callback"),
        ("Перезвоните, пожалуйста, в четверг, тогда и договоримся насчёт мастера.", "callback"),
        ("Ой, у меня сейчас урок идёт, давайте после обеда.", "callback"),
        ("Человека дайте.", "operator"),
        ("Соедините с мастером-приёмщиком, пожалуйста.", "operator"),
        ("Мне нужно поговорить с классным руководителем.", "operator"),
        ("Можно с сотрудником банка, а не с роботом?", "operator"),
        ("Чего?", "other"),
        ("А до скольки аптека работает?", "other"),
        ("А карту курьер домой привезёт или в отделение?", "other"),
        ("Подождите, это какая школа, сто двадцатая?", "other"),
    ],
    "en": [
        ("Deal.", "yes"),
        ("Great, I'll swing by the pharmacy after work.", "yes"),
        ("Yes, book the car in for Saturday morning.", "yes"),
        ("Sure, my husband and I will both be at the meeting.", "yes"),
        ("Nah, I'm good.", "no"),
        ("I already got it from another pharmacy, so cancel the order.", "no"),
        ("No, the car's running fine now, I don't need the service.", "no"),
        ("Sorry, I can't make the parents' evening.", "no"),
        ("Do not contact me again.", "opt_out"),
        ("I've told you three times already, stop ringing this number.", "opt_out"),
        ("I'd like my number taken off your calling list, please.", "opt_out"),
        ("Wrong number, and don't ever call it again.", "opt_out"),
        ("Later, please.", "callback"),
        ("I'm under the car right now, call me in an hour or so.", "callback"),
        ("Can we sort out the technician visit tomorrow? I'm in the middle of something.", "callback"),
        ("I'm at school pickup, could you give me a ring after four?", "callback"),
        ("Agent.", "operator"),
        ("Can I talk to the pharmacist, please?", "operator"),
        ("Put me on with someone at the bank, not a recording.", "operator"),
        ("Is the service advisor around? I'd like a word with him.", "operator"),
        ("Pardon?", "other"),
        ("What time does the pharmacy close?", "other"),
        ("Which card is this, the credit card or the debit one?", "other"),
        ("Wait, is this about the router? It's been down since Tuesday.", "other"),
    ],
}

# The voices the tuning set was made with (and the engine tuned on); any other voice is new.
TUNING_VOICES = (
    "festival-ru-nsh",
    "festival-en-slt",
    "festival-en-kal",
    "espeak-en-us",
    "espeak-en-gb-f",
    "piper-en-joe",
)

# held_out_v2's conditions: wider than VARIANTS (tempo 0.85-1.2, pitch -200..+250 c, hiss -48..-36
# dBFS). A pseudo-speaker already carries a ±350-400 c shift: it gets the tempo and hiss only.
V2_VARIANTS: list[tuple[float, int, float | None]] = [
    (1.0, 0, None),
    (1.2, 0, -42.0),
    (0.85, -200, None),
    (1.1, 250, -36.0),
    (0.95, 120, -48.0),
    (1.05, -100, -40.0),
]

# held_out_v3's conditions: none of them one of V2_VARIANTS (nor VARIANTS), over about the same
# range (tempo 0.88-1.18, pitch -220..+180 c, hiss -50..-38 dBFS); pseudo-speakers: tempo and hiss.
V3_VARIANTS: list[tuple[float, int, float | None]] = [
    (0.92, 0, -44.0),
    (1.08, -150, None),
    (1.18, 180, -50.0),
    (0.88, 100, -38.0),
    (1.0, -220, -46.0),
    (1.12, 60, None),
]

# held_out_v4's conditions: none of them one of VARIANTS, V2_VARIANTS or V3_VARIANTS (not even a
# tempo, pitch or hiss level one of them used), over about the same range (tempo 0.87-1.16, pitch
# -170..+220 c, hiss -47..-39 dBFS); pseudo-speakers: tempo and hiss only.
V4_VARIANTS: list[tuple[float, int, float | None]] = [
    (1.06, -80, None),
    (0.93, 160, -43.0),
    (1.16, -170, -47.0),
    (0.87, 40, None),
    (1.03, 220, -39.0),
    (1.14, -130, -41.0),
]

# held_out_v5's conditions: none of them one of VARIANTS, V2_VARIANTS, V3_VARIANTS or V4_VARIANTS (not
# even a tempo, pitch or hiss level one of them used), over about the same range (tempo 0.89-1.17, pitch
# -210..+240 c, hiss -49..-37 dBFS); pseudo-speakers: tempo and hiss only.
V5_VARIANTS: list[tuple[float, int, float | None]] = [
    (1.09, -40, None),
    (0.96, 140, -49.0),
    (1.17, -210, -40.5),
    (0.89, 240, -37.0),
    (1.02, -90, None),
    (1.13, 70, -45.5),
]

# held_out_v6's conditions: none of them one of VARIANTS or V2_VARIANTS-V5_VARIANTS (not even a tempo,
# pitch or hiss level one of them used), over about the same range (tempo 0.86-1.19, pitch -190..+230 c,
# hiss -48.5..-37.5 dBFS); pseudo-speakers: tempo and hiss only.
V6_VARIANTS: list[tuple[float, int, float | None]] = [
    (1.04, -190, -41.5),
    (0.91, 110, None),
    (1.19, -60, -48.5),
    (0.86, 230, -37.5),
    (0.98, -120, None),
    (1.11, 30, -43.5),
]

# held_out_v7's conditions: none of them one of VARIANTS or V2_VARIANTS-V6_VARIANTS (not even a tempo,
# pitch or hiss level one of them used), over about the same range (tempo 0.875-1.185, pitch -160..+210
# c, hiss -46.5..-38.5 dBFS); pseudo-speakers: tempo and hiss only.
V7_VARIANTS: list[tuple[float, int, float | None]] = [
    (0.97, -160, -44.5),
    (1.07, 130, None),
    (0.875, -50, -46.5),
    (1.185, 210, -38.5),
    (1.125, -110, None),
    (0.94, 80, -42.5),
]

# Plain, clear replies from PHRASES whose free transcripts decide whether Whisper understands a
# voice at all (--probe); a voice is judged on these, never on intent results.
PROBE: dict[str, list[str]] = {
    "ru": [
        "Да.",
        "Нет.",
        "Да, конечно.",
        "Нет, спасибо.",
        "Хорошо.",
        "Не звоните мне больше.",
        "Удалите мой номер.",
        "Перезвоните позже.",
        "Соедините с оператором.",
        "Алло, кто это?",
    ],
    "en": [
        "Yes.",
        "No.",
        "Yes, please.",
        "No thanks.",
        "Okay.",
        "Stop calling me.",
        "Please remove my number.",
        "Call me back later.",
        "Let me talk to an operator.",
        "Hello, who is this?",
    ],
}


@dataclass(frozen=True)
class Item:
    set: str  # one of SETS
    part: str  # held_out_v2: "new_text" (NEW_PHRASES) or "old_text" (PHRASES on a new voice); v3-v7: "new_text"
    language: str
    voice: asr_voices.Voice
    text: str
    intent: str
    tempo: float
    pitch: int
    noise: float | None
    seed: int


def held_out(voice: str, text: str, variant: tuple[float, int, float | None]) -> bool:
    """Fixed split of the set (about half each way, by a CRC of the reply's voice, sentence and
    condition): anything tuned (phrasings, thresholds) is tuned on the other half and reported
    on this one too (--set held_out_v1), so a change fitted to the set shows up as a gap."""
    return zlib.crc32(f"split-v1|{voice}|{text}|{variant}".encode()) % 2 == 1


def voices(language: str) -> list[asr_voices.Voice]:
    found = asr_voices.available_voices(language, new=True)
    return [v for v in found if not (language == "ru" and v.kind == "espeak")]


def v1_items() -> list[Item]:
    """The original set, item for item as before held_out_v2 existed: tuning + held_out_v1."""
    out: list[Item] = []
    for language, phrases in PHRASES.items():
        for vi, voice in enumerate(v for v in voices(language) if v.name in TUNING_VOICES):
            for pi, (text, intent) in enumerate(phrases):
                variants = [VARIANTS[(pi + vi) % len(VARIANTS)]]
                if language == "ru":  # one Russian voice: give it more conditions
                    variants.append(VARIANTS[(pi + vi + 2) % len(VARIANTS)])
                for tempo, pitch, noise in variants:
                    name = "held_out_v1" if held_out(voice.name, text, (tempo, pitch, noise)) else "tuning"
                    out.append(Item(name, "", language, voice, text, intent, tempo, pitch, noise, pi))
    return out


# Conditions per reply in held_out_v2: Russian has fewer voices, so each Russian reply gets two.
V2_CONDITIONS = {"ru": 2, "en": 1}


def v2_items() -> list[Item]:
    """NEW_PHRASES x every voice, and PHRASES x the new voices; conditions cycled from V2_VARIANTS."""
    out: list[Item] = []
    for language in PHRASES:
        for vi, voice in enumerate(voices(language)):
            parts = [("new_text", NEW_PHRASES[language])]
            if voice.name not in TUNING_VOICES:  # pseudo-speakers included: the only new Russian voices
                parts.append(("old_text", PHRASES[language]))
            for part, phrases in parts:
                for pi, (text, intent) in enumerate(phrases):
                    seed = zlib.crc32(f"v2|{voice.name}|{text}".encode())
                    count = V2_CONDITIONS[language] if part == "new_text" else 1
                    for k in range(count):
                        tempo, pitch, noise = V2_VARIANTS[(pi + 2 * vi + 3 * k) % len(V2_VARIANTS)]
                        if voice.pseudo:
                            pitch = 0
                        out.append(Item("held_out_v2", part, language, voice, text, intent, tempo, pitch, noise, seed))
    return out


def _blind_items(
    name: str,
    phrases: dict[str, list[tuple[str, str]]],
    variants: list[tuple[float, int, float | None]],
    cycle: Callable[[int, int, int], int],
) -> list[Item]:
    """A blind set: its phrasings x every voice, conditions taken from `variants` at
    cycle(phrasing index, voice index, condition index); as in v2, two conditions per Russian
    reply and one per English."""
    out: list[Item] = []
    for language, language_phrases in phrases.items():
        for vi, voice in enumerate(voices(language)):
            for pi, (text, intent) in enumerate(language_phrases):
                seed = zlib.crc32(f"{name.removeprefix('held_out_')}|{voice.name}|{text}".encode())
                for k in range(V2_CONDITIONS[language]):
                    tempo, pitch, noise = variants[cycle(pi, vi, k) % len(variants)]
                    if voice.pseudo:
                        pitch = 0
                    out.append(Item(name, "new_text", language, voice, text, intent, tempo, pitch, noise, seed))
    return out


def v3_items() -> list[Item]:
    """V3_PHRASES x every voice; conditions cycled from V3_VARIANTS at other offsets than v2's."""
    return _blind_items("held_out_v3", V3_PHRASES, V3_VARIANTS, lambda pi, vi, k: pi + 3 * vi + 2 * k + 1)


def v4_items() -> list[Item]:
    """V4_PHRASES x every voice; conditions cycled from V4_VARIANTS by another cycle than v3's."""
    return _blind_items("held_out_v4", V4_PHRASES, V4_VARIANTS, lambda pi, vi, k: 5 * pi + 2 * vi + 3 * k + 4)


def v5_items() -> list[Item]:
    """V5_PHRASES x every voice; conditions cycled from V5_VARIANTS by another cycle than v3's and v4's."""
    return _blind_items("held_out_v5", V5_PHRASES, V5_VARIANTS, lambda pi, vi, k: pi + 4 * vi + 5 * k + 2)


def v6_items() -> list[Item]:
    """V6_PHRASES x every voice; conditions cycled from V6_VARIANTS by another cycle than v3's-v5's."""
    return _blind_items("held_out_v6", V6_PHRASES, V6_VARIANTS, lambda pi, vi, k: 5 * pi + vi + 4 * k + 3)


def v7_items() -> list[Item]:
    """V7_PHRASES x every voice; conditions cycled from V7_VARIANTS by another cycle than v3's-v6's."""
    return _blind_items("held_out_v7", V7_PHRASES, V7_VARIANTS, lambda pi, vi, k: 3 * pi + 5 * vi + k + 6)


def set_items(which: str) -> list[Item]:
    """The items of one of SETS or "all", unrendered."""
    items = v1_items() + v2_items() + v3_items() + v4_items() + v5_items() + v6_items() + v7_items()
    return [i for i in items if which in ("all", i.set)]


def build_set(which: str, limit: int | None = None) -> list[tuple[Item, bytes]]:
    """(item, pcm16 at 8 kHz) for one of SETS or "all"."""
    items = set_items(which)
    items = items[:limit] if limit else items
    return [(i, render(i)) for i in items]


def render(i: Item) -> bytes:
    return asr_voices.cached_telephone(
        CACHE, i.voice, i.text, tempo=i.tempo, pitch_cents=i.pitch, noise_db=i.noise, seed=i.seed
    )


def wer(ref: str, hyp: str) -> tuple[int, int]:
    r, h = intents.normalize(ref).split(), intents.normalize(hyp).split()
    d = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
    return d[len(h)], len(r)


def split_names(item: Item) -> list[str]:
    """The item's set, and its part: held_out_v2/new_text, held_out_v2/old_text, and
    held_out_v2/new_text_new_voice (new phrasings on new voices: the most independent part); for
    held_out_v3 to held_out_v7 (all new_text) likewise <set>/new_text and
    <set>/new_text_new_voice."""
    names = [item.set]
    if item.part:
        names.append(f"{item.set}/{item.part}")
        if item.part == "new_text" and item.voice.name not in TUNING_VOICES:
            names.append(f"{item.set}/new_text_new_voice")
    return names


def _acc(ok: int, n: int) -> dict[str, float | int]:
    return {"intent_accuracy": round(ok / n, 4) if n else 0.0, "n": n}


def probe(engine: AsrEngine) -> int:
    """Free transcripts (expect="free", forced language) of PROBE's plain replies per voice: how
    well Whisper understands the voice itself. One JSON line per voice; WER over the 10 replies."""
    for voice in asr_voices.available_voices(new=True, rejected=True):
        texts = PROBE[voice.language]
        pcm = [asr_voices.cached_telephone(CACHE, voice, t, seed=0) for t in texts]
        results = engine.recognize([Utterance(p, 8000, voice.language, "free") for p in pcm])
        errors = words = exact = 0
        heard = []
        for text, r in zip(texts, results, strict=True):
            e, w = wer(text, r.transcript)
            errors, words, exact = errors + e, words + w, exact + (e == 0)
            heard.append(r.transcript)
        rejected = voice in asr_voices.REJECTED
        row = {
            "voice": voice.name,
            "rejected": rejected,
            "exact": f"{exact}/{len(texts)}",
            "wer": round(errors / words, 3),
            "heard": heard,
        }
        print(json.dumps(row, ensure_ascii=False), flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="which", choices=(*SETS, "all"), default="all", help="see SETS and the docstring")
    ap.add_argument("--models", default=None)
    ap.add_argument("--min-frames", type=int, default=EngineOptions.min_frames)
    ap.add_argument("--expect", default="yes_no")
    ap.add_argument("--no-scoring", action="store_true", help="decide from the free transcript only")
    ap.add_argument("--no-meaning", action="store_true", help="phrase rules only for free transcripts (meaning.py off)")
    ap.add_argument("--bonus", type=float, default=EngineOptions.candidate_bonus)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--errors", action="store_true", help="list misrecognitions on stderr")
    ap.add_argument("--dump", type=Path, help="write every result (scores included) as JSON lines here")
    ap.add_argument("--probe", action="store_true", help="free transcripts of PROBE per voice, then exit")
    ap.add_argument("--render-only", action="store_true", help="render the set into the cache; no engine")
    args = ap.parse_args()
    if args.render_only:
        render0 = time.perf_counter()
        n = len(build_set(args.which, args.limit))
        print(json.dumps({"set": args.which, "n": n, "render_s": round(time.perf_counter() - render0, 1)}))
        return 0
    chosen = models_from_env(args.models)
    options = EngineOptions(
        min_frames=args.min_frames,
        score_closed=not args.no_scoring,
        candidate_bonus=args.bonus,
        meaning=not args.no_meaning,
    )
    engine = AsrEngine(chosen, options)
    if args.probe:
        return probe(engine)
    render0 = time.perf_counter()
    data = build_set(args.which, args.limit)
    render_s = time.perf_counter() - render0
    stats: dict[str, dict[str, float]] = {}
    by_voice: dict[str, list[int]] = {}
    by_split: dict[str, list[int]] = {}
    dump = open(args.dump, "w") if args.dump else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for first in range(0, len(data), args.batch):
        chunk = data[first : first + args.batch]
        results = engine.recognize([Utterance(pcm, 8000, i.language, args.expect) for i, pcm in chunk])
        for (item, _), r in zip(chunk, results, strict=True):
            ok = r.intent == item.intent
            s = stats.setdefault(item.language, {"n": 0, "correct": 0, "errors": 0, "words": 0})
            s["n"] += 1
            s["correct"] += ok
            counters = [by_voice.setdefault(item.voice.name, [0, 0])]
            counters += [by_split.setdefault(name, [0, 0]) for name in split_names(item)]
            for counter in counters:
                counter[0] += ok
                counter[1] += 1
            e, w = wer(item.text, r.text)
            s["errors"] += e
            s["words"] += w
            condition = {"tempo": item.tempo, "pitch": item.pitch, "noise_db": item.noise}
            if dump:
                row = {
                    "set": item.set,
                    "part": item.part,
                    "lang": item.language,
                    "voice": item.voice.name,
                    **condition,
                    "ref": item.text,
                    "want": item.intent,
                    "got": r.intent,
                    "text": r.text,
                    "transcript": r.transcript,
                    "scores": r.scores,
                }
                dump.write(json.dumps(row, ensure_ascii=False) + "\n")
            if args.errors and not ok:
                row = {
                    "set": item.set,
                    "voice": item.voice.name,
                    "text": item.text,
                    "expected": item.intent,
                    "got": r.intent,
                    "heard": r.text,
                    "transcript": r.transcript,
                    "confidence": round(r.confidence, 3),
                    **condition,
                }
                print(json.dumps(row, ensure_ascii=False), file=sys.stderr, flush=True)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n = sum(int(s["n"]) for s in stats.values())
    out = {
        "bench": "asr_accuracy",
        "set": args.which,
        "models": chosen,
        "min_frames": args.min_frames,
        "expect": args.expect,
        "scoring": options.score_closed,
        "meaning": options.meaning,
        "candidate_bonus": options.candidate_bonus,
        "n": n,
        "intent_accuracy": round(sum(s["correct"] for s in stats.values()) / n, 4),
        "wer": round(sum(s["errors"] for s in stats.values()) / max(1, sum(s["words"] for s in stats.values())), 4),
        "cpu_s_per_utterance": round(cpu / n, 3),
        "wall_s_per_utterance": round(wall / n, 3),
        "wall_s": round(wall, 1),
        "render_s": round(render_s, 1),
        "by_language": {
            lang: {
                "n": int(s["n"]),
                "intent_accuracy": round(s["correct"] / s["n"], 4),
                "wer": round(s["errors"] / max(1, s["words"]), 4),
            }
            for lang, s in stats.items()
        },
        "splits": {name: _acc(ok, k) for name, (ok, k) in sorted(by_split.items())},
        "by_voice": {name: _acc(ok, k) for name, (ok, k) in by_voice.items()},
    }
    if dump:
        dump.close()
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
