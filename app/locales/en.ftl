# Messages of the tapbot.kz image bot, English (for users whose Telegram language is English).
# Same keys as ru.ftl, which is the fallback for anything missing here.
# Keep existing keys stable: the worker refers to them by name. New keys go at the end.

start-welcome =
    Hi, { $name }! I draw pictures from your descriptions.
    Tell me what to draw, for example: "a ginger cat in space, watercolour".

help =
    What I can do:
    • Send a description and I'll send a picture.
    • Send a photo with a caption and I'll change it the way the caption says.
    • Reply /upscale to a message with a picture and I'll make it larger.
    • /status — your jobs, place in the queue and an estimate.
    • /cancel — cancel a job that is queued or running.
    • /history — your last 10 pictures.
    Descriptions: 1 to { $promptMax } characters. Pictures: JPEG, PNG or WebP up to { $imageMaxMb } MB.

unsupported = I don't understand this kind of message.

## Acknowledgement of a request: one message, edited by the worker as the job moves.

ack-queued = Got it! Place in the queue: { $position }. This message will update when I start.
ack-generating = Drawing… This usually takes less than a minute.
ack-retrying = The image service answered with an error, trying again…
ack-done = Done!
result-caption = Done! For another picture, just send a description.

## Refusals of a request, before anything is queued.

rate-limited = Too many requests. Try again in { $seconds } s.
prompt-empty = Tell me what to draw: a description of 1 to { $max } characters.
prompt-too-long = The description is too long: { $length } characters, at most { $max } allowed.
image-too-big = The picture is too large: { $sizeMb } MB, at most { $maxMb } MB allowed.
file-wrong-type = I can't work with this file ({ $type }). Send a JPEG, PNG or WebP picture, as a photo or as a file.
photo-needs-caption = Add a caption to the photo saying what to change, for example: "make it a watercolour".
upscale-needs-reply = To enlarge a picture, reply /upscale to the message that has it.

## Outcomes of a job that did not end in a picture.

job-failed = I couldn't make the picture: the image service is unavailable right now. Please try again a bit later.
job-rejected = The image service did not accept the request: { $reason }. Change the description or the picture and try again.
job-rejected-content-policy = The image service declined the request under its content rules. Try a different description.
job-deadline = The picture took longer than { $seconds } s, so I stopped the job. Please try again.
job-cancelled = The job was cancelled.
source-unavailable = I couldn't get the source picture from Telegram. Please send it again.
source-too-big = The source picture is larger than { $maxMb } MB. Please send a smaller one.
source-not-image = The source file doesn't look like JPEG, PNG or WebP. Please send another picture.

## /status, /cancel, /history

kind-text-to-image = picture from a description
kind-image-to-image = photo edit
kind-upscale = upscale
status-empty = You have no jobs right now.
status-header = Your jobs:
status-queued = • { $kind }: queued, place { $position }, in about { $minutes } min.
status-waiting = • { $kind }: waiting for its turn.
status-running = • { $kind }: drawing…
cancel-none = Nothing to cancel: you have no queued or running jobs.
cancel-done = Cancelled: { $kind }.
cancel-requested = Stopping: { $kind }. The job's message will update when it has stopped.
history-empty = No finished pictures yet.

## Anything that went wrong inside the bot.

error-generic = Something went wrong. Please try again a bit later.

## The command menu (setMyCommands), one description per command.

command-help = What I can do
command-status = My jobs and place in the queue
command-cancel = Cancel a job
command-history = My last 10 pictures
command-upscale = Enlarge a picture (as a reply to it)

## Acknowledgement of a request that waits for a free slot at the image service (every slot is taken).

ack-queued-wait = Got it! Place in the queue: { $position }, in about { $minutes } min. This message will update when I start.

## Refusals by the spending caps: the user's daily quota (UTC days) and the hourly budget of the whole bot.

quota-daily-used = You have made all { $limit } pictures allowed per day. New ones from 00:00 UTC, in { $hours } h { $minutes } min.
generation-paused = New pictures are paused: the bot has made as many as it may this hour. Try again in { $minutes } min.
