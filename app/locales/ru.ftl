# Messages of the tapbot.kz image bot, Russian (the default language).
# Every user-facing string of the bot and of the worker lives here; en.ftl has the same keys.
# Keep existing keys stable: the worker refers to them by name. New keys go at the end.

start-welcome =
    Привет, { $name }! Я рисую картинки по вашему описанию.
    Напишите, что нарисовать, например: «рыжий кот в космосе, акварель».

help =
    Что я умею:
    • Напишите описание — пришлю картинку.
    • Пришлите фото с подписью — изменю фото так, как написано в подписи.
    • Ответьте командой /upscale на сообщение с картинкой — увеличу её.
    • /status — ваши задачи, место в очереди и примерное время.
    • /cancel — отменить задачу в очереди или в работе.
    • /history — последние 10 готовых картинок.
    Описание — от 1 до { $promptMax } символов. Картинки — JPEG, PNG или WebP до { $imageMaxMb } МБ.

unsupported = Такое сообщение я не понимаю.

## Acknowledgement of a request: one message, edited by the worker as the job moves.

ack-queued = Принято! Место в очереди: { $position }. Сообщение обновится, когда начну.
ack-generating = Рисую… Обычно это занимает меньше минуты.
ack-retrying = Сервис генерации ответил с ошибкой, пробую ещё раз…
ack-done = Готово!
result-caption = Готово! Чтобы получить ещё одну картинку, просто напишите описание.

## Refusals of a request, before anything is queued.

rate-limited = Слишком много запросов. Попробуйте снова через { $seconds } с.
prompt-empty = Напишите, что нарисовать: описание от 1 до { $max } символов.
prompt-too-long = Описание слишком длинное: { $length } символов, можно не больше { $max }.
image-too-big = Картинка слишком большая: { $sizeMb } МБ, можно не больше { $maxMb } МБ.
file-wrong-type = Такой файл я не обработаю ({ $type }). Пришлите картинку JPEG, PNG или WebP — как фото или файлом.
photo-needs-caption = Добавьте к фото подпись — что в нём изменить. Например: «сделай в стиле акварели».
upscale-needs-reply = Чтобы увеличить картинку, ответьте командой /upscale на сообщение с ней.

## Outcomes of a job that did not end in a picture.

job-failed = Не получилось сделать картинку: сервис генерации сейчас недоступен. Попробуйте ещё раз чуть позже.
job-rejected = Сервис генерации не принял запрос: { $reason }. Измените описание или картинку и попробуйте снова.
job-rejected-content-policy = Сервис генерации отклонил запрос по своим правилам о содержимом. Попробуйте другое описание.
job-deadline = Картинка не успела за { $seconds } с, и я остановил задачу. Попробуйте ещё раз.
job-cancelled = Задача отменена.
source-unavailable = Не удалось получить исходную картинку из Telegram. Пришлите её ещё раз.
source-too-big = Исходная картинка больше { $maxMb } МБ. Пришлите картинку поменьше.
source-not-image = Исходный файл не похож на JPEG, PNG или WebP. Пришлите другую картинку.

## /status, /cancel, /history

kind-text-to-image = картинка по описанию
kind-image-to-image = изменение фото
kind-upscale = увеличение
status-empty = Сейчас у вас нет задач.
status-header = Ваши задачи:
status-queued = • { $kind }: в очереди, место { $position }, примерно через { $minutes } мин.
status-waiting = • { $kind }: ждёт своей очереди.
status-running = • { $kind }: рисую…
cancel-none = Отменять нечего: у вас нет задач в очереди или в работе.
cancel-done = Отменено: { $kind }.
cancel-requested = Останавливаю: { $kind }. Сообщение о задаче обновится, когда она остановится.
history-empty = Готовых картинок пока нет.

## Anything that went wrong inside the bot.

error-generic = Что-то пошло не так. Попробуйте ещё раз чуть позже.

## The command menu (setMyCommands), one description per command.

command-help = Что я умею
command-status = Мои задачи и место в очереди
command-cancel = Отменить задачу
command-history = Последние 10 картинок
command-upscale = Увеличить картинку (ответом на неё)

## Подтверждение запроса, который ждёт свободного места в сервисе картинок (все места заняты).

ack-queued-wait = Принято! Место в очереди: { $position }, примерно через { $minutes } мин. Сообщение обновится, когда начну.

## Отказы по лимитам расходов: дневной лимит пользователя (сутки UTC) и часовой бюджет всего бота.

quota-daily-used = Дневной лимит картинок исчерпан: { $limit } в сутки. Новые — с 00:00 UTC, через { $hours } ч { $minutes } мин.
generation-paused = Новые картинки временно приостановлены: бот сделал столько, сколько можно за этот час. Попробуйте через { $minutes } мин.
